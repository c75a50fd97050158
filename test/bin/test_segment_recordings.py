"""Tests of the reference-free segmentation CLI (espnet_tagspeech/bin/segment_recordings.py)."""

import logging
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from espnet_tagspeech.bin.segment_recordings import main
from espnet_tagspeech.data.kaldi import read_durations, read_scp, read_wav_scp
from espnet_tagspeech.data.validate import validate_data_dir
from espnet_tagspeech.segment.vad import silero_available

FS = 16000


def _bursts(duration, bursts, rate=FS, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * rate)) / rate
    x = 1e-4 * rng.standard_normal(len(t))
    for s, e in bursts:
        on = (t >= s) & (t < e)
        x[on] += 0.3 * np.sin(2 * np.pi * 220 * t[on])
    return x.astype(np.float32)


def _recordings(tmp_path, extra=""):
    """A dir with a 16 kHz mono recording and a 22.05 kHz stereo one (bursts on channel 0)."""
    d = tmp_path / "raw"
    d.mkdir()
    sf.write(tmp_path / "a.wav", _bursts(16.0, [(0.5, 3.0), (3.2, 5.0), (7.0, 14.0)]), FS, subtype="PCM_16")
    left = _bursts(6.0, [(1.0, 2.0), (3.0, 4.5)], rate=22050)
    sf.write(tmp_path / "b.wav", np.stack([left, np.zeros_like(left)], 1), 22050, subtype="PCM_16")
    (d / "wav.scp").write_text(f"rec_a {tmp_path}/a.wav\nrec_b {tmp_path}/b.wav\n{extra}")
    (d / "reco2dur").write_text("rec_a 16.000\nrec_b 6.000\n")
    return d


def _run(d, out, *extra):
    return main(["--in_dir", str(d), "--out_dir", str(out), "--segmenter", "energy", "--nj", "1",
                 "--max_window", "5", "--merge_gap", "0.3", "--pad", "0.1", *extra])  # fmt: skip


def test_end_to_end_writes_a_decodable_dir_of_windows(tmp_path, caplog):
    d = _recordings(tmp_path)
    out = tmp_path / "cuts"
    with caplog.at_level(logging.INFO):
        assert _run(d, out) == 0
    assert "'rec_b'" in caplog.text and "2 channels" in caplog.text and "22050 Hz -> 16000 Hz" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["cut2reco", "data", "segment.yaml", "spk2utt", "utt2dur",
                                                     "utt2spk", "wav.scp"]  # fmt: skip
    wav, cut2reco, utt2dur = read_wav_scp(out / "wav.scp"), read_scp(out / "cut2reco"), read_durations(out / "utt2dur")
    assert set(wav) == set(cut2reco) == set(utt2dur) == set(read_scp(out / "utt2spk"))
    spans = {}
    for cut, value in cut2reco.items():
        reco, start, end = value.split()
        start, end = float(start), float(end)
        assert cut == f"{reco}_{round(start * 1000):07d}_{round(end * 1000):07d}"
        assert read_scp(out / "utt2spk")[cut] == reco
        assert 0 < end - start <= 5.0
        spans.setdefault(reco, []).append((start, end))
        audio, rate = sf.read(wav[cut])
        assert rate == FS and audio.ndim == 1 and abs(len(audio) / FS - utt2dur[cut]) < 1e-3
        assert wav[cut] == str((out / "data" / f"{cut}.wav").resolve())
    # a: 0.5-5.0 (gap 0.2 < merge_gap) is one window with pads; the 7 s tone is cut into 3 touching pieces
    a_spans = sorted(spans["rec_a"])
    assert len(a_spans) == 4 and a_spans[0] == pytest.approx((0.4, 5.1), abs=0.04)
    assert a_spans[1][0] == pytest.approx(6.9, abs=0.04) and a_spans[3][1] == pytest.approx(14.1, abs=0.04)
    assert all(abs(x[1] - y[0]) <= 0.002 for x, y in zip(a_spans[1:], a_spans[2:]))
    assert sorted(spans["rec_b"]) == [pytest.approx((0.9, 2.1), abs=0.04), pytest.approx((2.9, 4.6), abs=0.04)]
    # the window audio is the recording's samples
    a, _ = sf.read(tmp_path / "a.wav")
    first = min(cut2reco, key=lambda c: (cut2reco[c].split()[0], float(cut2reco[c].split()[1])))
    piece, _ = sf.read(wav[first])
    s = int(round(float(cut2reco[first].split()[1]) * FS))
    assert np.allclose(piece, a[s : s + len(piece)], atol=1e-4)
    report = validate_data_dir(out, text=False, audio="read")
    assert report.ok, report


def test_parallel_jobs_give_the_same_dir(tmp_path):
    d = _recordings(tmp_path)
    assert _run(d, tmp_path / "one") == 0
    assert _run(d, tmp_path / "two", "--nj", "2") == 0
    for name in ("cut2reco", "utt2dur", "utt2spk", "spk2utt"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


def test_a_silent_recording_gets_no_windows_and_a_warning(tmp_path, caplog):
    sf.write(tmp_path / "quiet.wav", np.zeros(3 * FS, np.float32), FS)
    d = _recordings(tmp_path, f"rec_q {tmp_path}/quiet.wav\n")
    out = tmp_path / "cuts"
    assert _run(d, out) == 0
    assert "'rec_q'" in caplog.text and "no speech" in caplog.text
    assert "rec_q" not in (out / "utt2spk").read_text()


def test_all_silent_is_an_error_and_writes_nothing(tmp_path, caplog):
    d = tmp_path / "raw"
    d.mkdir()
    sf.write(tmp_path / "quiet.wav", np.zeros(3 * FS, np.float32), FS)
    (d / "wav.scp").write_text(f"q {tmp_path}/quiet.wav\n")
    assert _run(d, tmp_path / "cuts") == 1
    assert "no speech found in any of 1 recordings" in caplog.text
    assert not (tmp_path / "cuts").exists()


def test_bad_recordings_are_all_named_and_the_output_is_untouched(tmp_path, caplog, capsys):
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1] * 1000, np.float32), FS, subtype="FLOAT")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    sf.write(tmp_path / "zero.wav", np.zeros((0,), np.float32), FS)
    extra = "".join(f"{k} {tmp_path}/{k}.wav\n" for k in ("nan", "missing", "empty", "junk", "zero"))
    d = _recordings(tmp_path, extra)
    out = tmp_path / "cuts"
    out.mkdir()
    (out / "keep.txt").write_text("from before")
    assert _run(d, out) == 1
    wav_scp = str(d / "wav.scp")
    for line, key in ((3, "nan"), (4, "missing"), (5, "empty"), (6, "junk"), (7, "zero")):
        assert f"{wav_scp}:{line}: wav.scp key {key!r}" in caplog.text, key
    assert "NaN" in caplog.text and "no such file" in caplog.text and "empty audio" in caplog.text
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cuts")]
    assert "Traceback" not in capsys.readouterr().err


def test_missing_wav_scp_and_bad_options(tmp_path, caplog):
    (tmp_path / "empty_dir").mkdir()
    assert _run(tmp_path / "empty_dir", tmp_path / "o") == 1
    assert f"{tmp_path / 'empty_dir' / 'wav.scp'}: no such file" in caplog.text
    assert not (tmp_path / "o").exists()
    d = _recordings(tmp_path)
    assert _run(d, tmp_path / "o", "--max_window", "0.2", "--pad", "0.1") == 2
    assert "bad option" in caplog.text
    assert _run(d, d) == 1
    assert "must differ" in caplog.text
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "wav.scp").write_text("")
    assert _run(tmp_path / "blank", tmp_path / "o") == 1
    assert "no recordings" in caplog.text


@pytest.mark.skipif(not silero_available(), reason="silero-vad is not installed (pip install silero-vad==6.2.3)")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) makes the speech")
def test_silero_in_worker_processes(tmp_path):
    from scipy.signal import resample_poly

    subprocess.run(["espeak-ng", "-w", str(tmp_path / "say.wav"), "let us meet in the library at five"],
                   check=True, capture_output=True)  # fmt: skip
    speech, rate = sf.read(tmp_path / "say.wav", dtype="float32")
    speech = resample_poly(speech, FS, rate).astype(np.float32)
    d = tmp_path / "raw"
    d.mkdir()
    lines = []
    for i in range(2):
        gap = np.zeros((1 + i) * FS, np.float32)
        sf.write(tmp_path / f"m{i}.wav", np.concatenate([gap, speech, gap]), FS)
        lines.append(f"m{i} {tmp_path}/m{i}.wav\n")
    (d / "wav.scp").write_text("".join(lines))
    out = tmp_path / "cuts"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--segmenter", "silero", "--nj", "2"]) == 0
    cut2reco = read_scp(out / "cut2reco")
    n = len(speech) / FS
    for i in range(2):
        (cut,) = [c for c, v in cut2reco.items() if v.startswith(f"m{i} ")]
        _, start, end = cut2reco[cut].split()
        assert abs(float(start) - (1 + i)) < 0.3 and abs(float(end) - (1 + i + n)) < 0.3


def test_a_segment_yaml_sets_the_windows_flags_win_and_the_dir_records_what_was_used(tmp_path):
    from espnet_tagspeech.segment.config import SegmentConfig

    d = _recordings(tmp_path)
    conf = tmp_path / "segment.yaml"
    conf.write_text("segmenter: energy\nmax_window: 3.0\nmerge_gap: 0.3\n")
    out = tmp_path / "cuts"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--config", str(conf)]) == 0
    spans = [tuple(map(float, v.split()[1:])) for v in read_scp(out / "cut2reco").values()]
    assert max(e - s for s, e in spans) <= 3.0 + 1e-6 and len(spans) > 6  # (5-s windows gave 6)
    used = SegmentConfig.from_yaml(out / "segment.yaml")
    assert (used.segmenter, used.max_window, used.merge_gap, used.pad) == ("energy", 3.0, 0.3, 0.1)
    # a flag wins over the yaml, and is what the dir records
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--config", str(conf), "--max_window", "5"]) == 0
    assert SegmentConfig.from_yaml(out / "segment.yaml").max_window == 5.0
    assert max(float(v.split()[2]) - float(v.split()[1]) for v in read_scp(out / "cut2reco").values()) > 3.0


def test_a_bad_segment_yaml_is_named_before_any_audio_is_read(tmp_path, caplog, capsys):
    d = _recordings(tmp_path)
    conf = tmp_path / "segment.yaml"
    conf.write_text("segmenter: energy\nmax_windw: 3.0\n")
    out = tmp_path / "cuts"
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--config", str(conf)]) == 2
    assert f"{conf}: unknown segmentation setting(s) ['max_windw']" in caplog.text
    conf.write_text("segmenter: webrtc\n")
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--config", str(conf)]) == 2
    assert f"{conf}: segmenter must be one of ['silero', 'energy'], got 'webrtc'" in caplog.text
    assert main(["--in_dir", str(d), "--out_dir", str(out), "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "segment config not found" in caplog.text
    assert not out.exists() and "Traceback" not in capsys.readouterr().err


def test_print_config_gives_what_the_dir_records(tmp_path, capsys):
    d = _recordings(tmp_path)
    out = tmp_path / "cuts"
    assert _run(d, out, "--max_window", "4") == 0
    capsys.readouterr()
    assert main(["--print_config", "--segmenter", "energy", "--max_window", "4", "--merge_gap", "0.3"]) == 0
    assert capsys.readouterr().out == (out / "segment.yaml").read_text()
    assert main(["--print_config", "--segmenter", "energy", "--max_window", "5", "--merge_gap", "0.3"]) == 0
    assert capsys.readouterr().out != (out / "segment.yaml").read_text()
    assert main(["--segmenter", "energy"]) == 2  # without --print_config the dirs are needed
