"""Tests of espnet_tagspeech.corpora.alimeeting and bin/prepare_alimeeting."""

from pathlib import Path

import pytest
from corpus_fixtures import ALI_TRAIN_TIERS, ALI_TRAIN_TURNS, textgrid_long, textgrid_short, write_audio

from espnet_tagspeech.bin import prepare_alimeeting
from espnet_tagspeech.corpora.alimeeting import (
    find_part_dir,
    list_sessions,
    load_session,
    parse_tier_name,
    session_audio,
    textgrid_turns,
)
from espnet_tagspeech.corpora.problems import Problems
from espnet_tagspeech.corpora.textgrid import parse_textgrid
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm, read_seglst, read_uem
from espnet_tagspeech.data.kaldi import KaldiDataDir, read_scp
from espnet_tagspeech.data.validate import validate_data_dir


def _summary(turns):
    return sorted((t.recording, t.speaker, t.gender, round(t.start, 3), round(t.end, 3), t.text) for t in turns)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("R0003_M0046_F_SPK0093", ("SPK0093", "f")),
        ("M_SPK1953", ("SPK1953", "m")),
        ("Speaker 1", ("Speaker_1", "u")),
        ("SPK0001", ("SPK0001", "u")),
    ],
)
def test_tier_names(name, expected):
    assert parse_tier_name(name) == expected


def test_layout_lookup(ali_corpus: Path):
    assert find_part_dir(ali_corpus, "Train") == ali_corpus / "Train_Ali_far"
    assert find_part_dir(ali_corpus, "Eval") == ali_corpus / "Eval_Ali" / "Eval_Ali_far"
    assert find_part_dir(ali_corpus, "Train", "near") is None
    part = ali_corpus / "Train_Ali_far"
    assert [p.name for p in list_sessions(part)] == ["R0001_M0001.TextGrid"]
    assert session_audio(part, "R0001_M0001").name == "R0001_M0001_MS001.wav"
    with pytest.raises(DataFormatError, match="no R0009_M0009\\*.wav"):
        session_audio(part, "R0009_M0009")
    write_audio(part / "audio_dir" / "R0001_M0001_MS009.wav", 0.1)
    with pytest.raises(DataFormatError, match="several wav files"):
        session_audio(part, "R0001_M0001")


def test_session_turns_skip_empty_intervals(ali_corpus: Path):
    turns = load_session(ali_corpus / "Train_Ali_far" / "textgrid_dir" / "R0001_M0001.TextGrid")
    assert _summary(turns) == sorted(ALI_TRAIN_TURNS)
    assert all(not w.timed for t in turns for w in t.words)
    # Overlapping speech of the two speakers is kept as it is.
    a = [t for t in turns if t.speaker == "SPK0001"][0]
    b = [t for t in turns if t.speaker == "SPK0002"][0]
    assert a.start < b.start < a.end


def test_short_format_session_gives_the_same_turns():
    long = textgrid_turns(parse_textgrid(textgrid_long(5.0, ALI_TRAIN_TIERS)), "R0001_M0001")
    short = textgrid_turns(parse_textgrid(textgrid_short(5.0, ALI_TRAIN_TIERS)), "R0001_M0001")
    assert _summary(long) == _summary(short) == sorted(ALI_TRAIN_TURNS)


def test_two_tiers_of_one_speaker():
    tiers = [("R1_M1_F_SPK0001", [(0, 1, "好")]), ("F_SPK0001", [(1, 2, "的")])]
    tg = parse_textgrid(textgrid_long(2.0, tiers), "dup.TextGrid")
    with pytest.raises(DataFormatError, match=r"dup\.TextGrid:\d+: speaker SPK0001 already has a tier"):
        textgrid_turns(tg, "R1_M1")
    problems = Problems(strict=False)
    assert [t.text for t in textgrid_turns(tg, "R1_M1", problems)] == ["好"]
    assert len(problems) == 1


def _check(d: Path, expected) -> None:
    report = validate_data_dir(d)
    assert report.ok, "\n".join(str(p) for p in report.errors)
    kd = KaldiDataDir(d)
    assert sorted((t.recording, t.speaker, t.start, t.end) for t in kd.rttm) == sorted(
        (r, s, a, b) for r, s, _, a, b, _ in expected
    )
    texts = sorted((kd.segments[u].recording, kd.utt2spk[u], kd.segments[u].start, x) for u, x in kd.text.items())
    assert texts == sorted((r, s, a, x) for r, s, _, a, _, x in expected)
    assert _summary(read_seglst(d / "ref.seglst.json")) == sorted((r, s, "u", a, b, x) for r, s, _, a, b, x in expected)
    assert dict(read_scp(d / "spk2gender")) == {s: g for _, s, g, *_ in expected}
    assert not (d / "words.ctm").exists()  # no word times in AliMeeting


def test_prepare_alimeeting(ali_corpus: Path, tmp_path: Path):
    out = tmp_path / "data"
    assert prepare_alimeeting.main(["--corpus_dir", str(ali_corpus), "--out_dir", str(out)]) == 0
    _check(out / "train_far", ALI_TRAIN_TURNS)
    _check(out / "eval_far", [("R0002_M0002", "SPK0003", "f", 0.0, 1.0, "开 会")])
    _check(out / "test_far", [("R0003_M0003", "SPK0004", "m", 2.0, 3.5, "好 吧")])
    assert read_uem(out / "train_far" / "uem") == {"R0001_M0001": (0.0, 5.0)}
    wav = read_scp(out / "train_far" / "wav.scp")["R0001_M0001"]
    assert wav.endswith("Train_Ali_far/audio_dir/R0001_M0001_MS001.wav")


def test_prepare_alimeeting_sox_pipe_reads_channel_one(ali_corpus: Path, tmp_path: Path):
    import shutil

    import numpy as np
    import soundfile as sf

    from espnet_tagspeech.data.kaldi import load_audio

    out = tmp_path / "data"
    argv = ["--corpus_dir", str(ali_corpus), "--out_dir", str(out), "--sets", "eval", "--wav_format", "sox"]
    assert prepare_alimeeting.main(argv) == 0
    entry = read_scp(out / "eval_far" / "wav.scp")["R0002_M0002"]
    assert entry.startswith("sox ") and entry.endswith("remix 1 |")
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    audio, rate = load_audio(entry)
    original, _ = sf.read(str(ali_corpus / "Eval_Ali" / "Eval_Ali_far" / "audio_dir" / "R0002_M0002_MS002.wav"))
    assert rate == 16000 and audio.ndim == 1
    np.testing.assert_allclose(audio, original[:, 0], atol=1e-4)


def test_malformed_textgrid_is_reported_before_writing(ali_corpus: Path, tmp_path: Path, caplog):
    tg = ali_corpus / "Train_Ali_far" / "textgrid_dir" / "R0001_M0001.TextGrid"
    text = tg.read_text(encoding="utf-8")
    bad = text.replace("xmax = 2.0 ", "xmax = 2,0 ", 1)
    tg.write_text(bad, encoding="utf-8")
    line = bad[: bad.index("xmax = 2,0")].count("\n") + 1
    out = tmp_path / "data"
    assert prepare_alimeeting.main(["--corpus_dir", str(ali_corpus), "--out_dir", str(out)]) == 1
    assert f"{tg}:{line}: " in caplog.text
    assert not out.exists()
    # --skip_bad leaves that session out; the other parts are written.
    assert prepare_alimeeting.main(["--corpus_dir", str(ali_corpus), "--out_dir", str(out), "--skip_bad",
                                    "--sets", "eval", "test"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["eval_far", "test_far"]
    assert prepare_alimeeting.main(["--corpus_dir", str(ali_corpus), "--out_dir", str(out), "--skip_bad"]) == 1


def test_missing_part(ali_corpus: Path, tmp_path: Path):
    import shutil

    shutil.rmtree(ali_corpus / "Test_Ali")
    argv = ["--corpus_dir", str(ali_corpus), "--out_dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit, match="no Test_Ali_far/textgrid_dir"):
        prepare_alimeeting.main(argv)
    assert prepare_alimeeting.main(argv + ["--allow_missing"]) == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["eval_far", "train_far"]
    assert len(read_rttm(tmp_path / "data" / "train_far" / "rttm")) == 3
