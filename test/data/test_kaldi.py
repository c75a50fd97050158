"""Tests of espnet_tagspeech.data.kaldi: tables, conversions, audio loading, KaldiDataDir."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.kaldi import (
    SPECS,
    AudioReadError,
    KaldiDataDir,
    Segment,
    load_audio,
    read_durations,
    read_num_samples,
    read_scp,
    read_segment,
    read_segments,
    read_spk2utt,
    read_text,
    read_utt2spk,
    read_wav_scp,
    scan_table,
    spk2utt_to_utt2spk,
    utt2spk_to_spk2utt,
    wav_entry_kind,
    write_table,
)
from espnet_tagspeech.data.turn import Turn

RATE = 16000


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _tone(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """int16 noise, distinct per seed, so sample comparisons mean something."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.5, 0.5, int(seconds * rate)) * 32768).astype(np.int16)


# ----------------------------------------------------------------------------- tables


def test_readers_parse_each_table(tmp_path):
    assert read_wav_scp(_write(tmp_path / "wav.scp", "r1 /a/r1.wav\nr2 sox  x.wav -t wav - |\n")) == {
        "r1": "/a/r1.wav",
        "r2": "sox  x.wav -t wav - |",
    }
    segs = read_segments(_write(tmp_path / "segments", "u1 r1 0.5 1.25\nu2 r1 2 3\n"))
    assert segs["u1"] == Segment("r1", 0.5, 1.25) and segs["u2"].duration == pytest.approx(1.0)
    assert list(read_utt2spk(_write(tmp_path / "utt2spk", "u1 A\nu2 B\n")).items()) == [("u1", "A"), ("u2", "B")]
    assert read_spk2utt(_write(tmp_path / "spk2utt", "A u1 u3\nB u2\n")) == {"A": ["u1", "u3"], "B": ["u2"]}
    assert read_text(_write(tmp_path / "text", "u1 hello  wörld\nu2\n")) == {"u1": "hello  wörld", "u2": ""}
    assert read_durations(_write(tmp_path / "reco2dur", "r1 2.5\n")) == {"r1": 2.5}
    assert read_num_samples(_write(tmp_path / "utt2num_samples", "u1 16000\n")) == {"u1": 16000}
    assert read_scp(_write(tmp_path / "feats.scp", "u1 a.ark:12\n")) == {"u1": "a.ark:12"}


@pytest.mark.parametrize(
    "name, content, line, fragment",
    [
        ("utt2spk", "u1 A\nu2 B extra\n", 2, "expected 2 fields, got 3"),
        ("segments", "u1 r1 0 1\nu2 r1 1\n", 2, "expected 4 fields, got 3"),
        ("utt2spk", "u1 A\nu2 B\nu1 C\n", 3, "duplicate key 'u1' (first on line 1)"),
        ("reco2dur", "r1 2.0\nr2 two\n", 2, "not a number"),
        ("utt2num_samples", "u1 1.5\n", 1, "not an integer"),
        ("utt2dur", "u1 1.0\nu2 -0.5\n", 2, "negative value"),
        ("segments", "u1 r1 1.0 1.0\n", 1, "not after its start"),
        ("segments", "u1 r1 -0.1 1.0\n", 1, "negative segment start"),
        ("segments", "u1 r1 0 nan\n", 1, "not finite"),
        ("wav.scp", "r1 a.wav\n\nr2 b.wav\n", 2, "empty line"),
        ("wav.scp", "r1\n", 1, "at least 2"),
        ("utt2spk", "u1 A\r\n", 1, "carriage return"),
    ],
)
def test_malformed_lines_raise_with_file_and_line(tmp_path, name, content, line, fragment):
    path = _write(tmp_path / name, content)
    with pytest.raises(DataFormatError) as info:
        scan_table(path)
    assert info.value.line == line
    assert fragment in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_bad_utf8_is_reported_with_line(tmp_path):
    path = tmp_path / "text"
    path.write_bytes(b"u1 ok\nu2 caf\xe9\n")
    with pytest.raises(DataFormatError, match=r"text:2: not valid UTF-8"):
        read_text(path)


def test_scan_collects_every_problem_and_keeps_good_lines(tmp_path):
    path = _write(tmp_path / "utt2dur", "u1 1.0\nu2 x\nu3 -1\nu1 2.0\nu4 0.5\n")
    problems = []
    entries = scan_table(path, problems=problems)
    assert [(e.lineno, e.key, e.value) for e in entries] == [(1, "u1", 1.0), (5, "u4", 0.5)]
    assert [p.line for p in problems] == [2, 3, 4]


def test_missing_file_is_a_data_format_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_utt2spk(tmp_path / "utt2spk")


def test_write_table_sorts_in_c_locale_order(tmp_path):
    path = tmp_path / "t"
    table = {"b": "x", "B": "y", "a-1": "z", "a": "w", "a_1": "v", "é": "u"}
    write_table(path, table)
    keys = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()]
    # C locale compares bytes: uppercase before lowercase, '-' (0x2d) before '_' (0x5f),
    # and multi-byte UTF-8 after ASCII.
    assert keys == ["B", "a", "a-1", "a_1", "b", "é"]
    assert [k.encode("utf-8") for k in keys] == sorted(k.encode("utf-8") for k in table)


def test_write_table_formats_values_and_round_trips(tmp_path):
    write_table(tmp_path / "segments", {"u2": Segment("r1", 1.0, 2.5), "u1": Segment("r1", 0.0, 1.0)})
    assert (tmp_path / "segments").read_text() == "u1 r1 0.000 1.000\nu2 r1 1.000 2.500\n"
    assert read_segments(tmp_path / "segments")["u2"] == Segment("r1", 1.0, 2.5)
    write_table(tmp_path / "text", {"u1": "", "u2": "a b"})
    assert (tmp_path / "text").read_text() == "u1\nu2 a b\n"
    with pytest.raises(ValueError, match="bad key"):
        write_table(tmp_path / "x", {"a b": "c"})


def test_utt2spk_spk2utt_conversions():
    utt2spk = {"b-2": "b", "a-1": "a", "b-1": "b", "c-1": "a"}
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    assert list(spk2utt.items()) == [("a", ["a-1", "c-1"]), ("b", ["b-1", "b-2"])]
    assert spk2utt_to_utt2spk(spk2utt) == dict(sorted(utt2spk.items()))
    assert list(spk2utt_to_utt2spk(spk2utt)) == sorted(utt2spk)
    with pytest.raises(ValueError, match="'u1' is listed under 'A' and 'B'"):
        spk2utt_to_utt2spk({"A": ["u1"], "B": ["u1"]})


# ----------------------------------------------------------------------------- audio


@pytest.fixture
def wav(tmp_path):
    samples = _tone(1.0)
    path = tmp_path / "r1.wav"
    sf.write(path, samples, RATE, subtype="PCM_16")
    return path, samples.astype(np.float32) / 32768


def test_wav_entry_kinds(wav):
    path, _ = wav
    assert wav_entry_kind(str(path)) == "file"
    assert wav_entry_kind(f"cat {path} |") == "pipe"
    assert wav_entry_kind("/x/y/foo.ark:1234") == "ark"


def test_load_plain_file(wav):
    path, expect = wav
    audio, rate = load_audio(str(path))
    assert rate == RATE and audio.dtype == np.float32
    np.testing.assert_allclose(audio, expect, atol=1e-6)


@pytest.mark.parametrize("command", ["cat {} |", "sox {} -t wav - |"])
def test_load_pipe(wav, command):
    path, expect = wav
    if command.startswith("sox") and shutil.which("sox") is None:
        pytest.skip("sox not installed")
    audio, rate = load_audio(command.format(path), key="r1")
    assert rate == RATE
    np.testing.assert_allclose(audio, expect, atol=1e-6)


def test_failing_pipe_names_the_key(tmp_path):
    with pytest.raises(AudioReadError, match=r"key 'rec7'.*exit code 3"):
        load_audio("echo oops >&2; exit 3 |", key="rec7")
    with pytest.raises(AudioReadError, match=r"key 'rec8'.*not readable audio"):
        load_audio("echo not audio |", key="rec8")


def test_load_from_ark_written_by_kaldiio(tmp_path):
    kaldiio = pytest.importorskip("kaldiio")
    a, b = _tone(0.5, seed=1), _tone(0.25, rate=8000, seed=2)
    ark, scp = tmp_path / "wav.ark", tmp_path / "ark.scp"
    kaldiio.save_ark(str(ark), {"r1": (RATE, a), "r2": (8000, b)}, scp=str(scp))
    entries = read_scp(scp)
    assert wav_entry_kind(entries["r2"]) == "ark"
    audio, rate = load_audio(entries["r2"], key="r2")
    assert rate == 8000
    np.testing.assert_allclose(audio, b.astype(np.float32) / 32768, atol=1e-7)
    audio, rate = load_audio(entries["r1"], key="r1")
    np.testing.assert_allclose(audio, a.astype(np.float32) / 32768, atol=1e-7)
    kaldiio.save_ark(str(tmp_path / "feats.ark"), {"f": np.zeros((3, 4), np.float32)}, scp=str(tmp_path / "f.scp"))
    with pytest.raises(AudioReadError, match="matrix, not"):
        load_audio(read_scp(tmp_path / "f.scp")["f"], key="f")


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(AudioReadError, match=r"key 'r9'.*no such file"):
        load_audio(str(tmp_path / "nope.wav"), key="r9")


@pytest.mark.parametrize("form", ["file", "pipe"])
def test_read_segment_cuts_the_right_samples(wav, form):
    path, expect = wav
    entry = str(path) if form == "file" else f"cat {path} |"
    audio, rate = read_segment(entry, 0.25, 0.5, key="r1")
    np.testing.assert_allclose(audio, expect[4000:8000], atol=1e-6)
    tail, _ = read_segment(entry, 0.75, None)
    np.testing.assert_allclose(tail, expect[12000:], atol=1e-6)
    clipped, _ = read_segment(entry, 0.9, 1.005)  # within the 10 ms tolerance
    assert len(clipped) == 1600
    with pytest.raises(AudioReadError, match="outside the recording"):
        read_segment(entry, 0.5, 1.5, key="r1")
    with pytest.raises(AudioReadError, match="bad segment"):
        read_segment(entry, 0.5, 0.4)


# ----------------------------------------------------------------------------- data dir


def test_kaldi_data_dir_write_and_read(tmp_path, wav):
    path, expect = wav
    d = KaldiDataDir(tmp_path / "data")
    d.write(
        wav_scp={"r1": str(path)},
        segments={"B-r1-1": Segment("r1", 0.5, 1.0), "A-r1-0": Segment("r1", 0.0, 0.5)},
        utt2spk={"B-r1-1": "B", "A-r1-0": "A"},
        text={"A-r1-0": "hello", "B-r1-1": "hi there"},
        reco2dur={"r1": 1.0},
        rttm=[Turn("r1", "A", 0.0, 0.5), Turn("r1", "B", 0.5, 1.0)],
        uem={"r1": (0.0, 1.0)},
        utt2lang={"A-r1-0": "en", "B-r1-1": "en"},
    )
    assert (tmp_path / "data" / "spk2utt").read_text() == "A A-r1-0\nB B-r1-1\n"
    assert (tmp_path / "data" / "utt2lang").is_file()
    fresh = KaldiDataDir(tmp_path / "data")
    assert fresh.utterances == ["A-r1-0", "B-r1-1"]
    assert fresh.recordings == ["r1"] and fresh.speakers == ["A", "B"]
    u = fresh.utterance("B-r1-1")
    assert (u.recording, u.speaker, u.start, u.end, u.text) == ("r1", "B", 0.5, 1.0, "hi there")
    audio, rate = fresh.load_utterance("B-r1-1")
    np.testing.assert_allclose(audio, expect[8000:16000], atol=1e-6)
    assert [t.speaker for t in fresh.rttm] == ["A", "B"] and fresh.uem == {"r1": (0.0, 1.0)}
    assert fresh.utt2dur is None and not fresh.has("utt2dur")
    assert fresh.get("utt2lang") == {"A-r1-0": "en", "B-r1-1": "en"}


def test_kaldi_data_dir_without_segments_and_cache_refresh(tmp_path, wav):
    path, expect = wav
    d = KaldiDataDir(tmp_path)
    d.write(wav_scp={"A-r1": str(path)}, utt2spk={"A-r1": "A"})
    assert d.utterance("A-r1").recording == "A-r1"
    audio, _ = d.load_utterance("A-r1")
    assert len(audio) == len(expect)
    d.write(utt2spk={"A-r1": "Z"})
    assert d.speakers == ["Z"] and d.spk2utt == {"Z": ["A-r1"]}
    with pytest.raises(KeyError):
        d.utterance("missing")


def test_required_file_missing(tmp_path):
    with pytest.raises(DataFormatError, match="utt2spk: no such file"):
        KaldiDataDir(tmp_path).utterances


def test_specs_cover_the_documented_files():
    assert {"wav.scp", "segments", "utt2spk", "spk2utt", "text", "reco2dur", "utt2dur"} <= set(SPECS)
