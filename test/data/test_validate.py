"""Tests of the data dir validator (library, CLI and utils/validate_data_dir.sh)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_tagspeech.bin import validate_data_dir as cli
from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.data.validate import Problem, validate_data_dir

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000


def make_good_dir(tmp_path: Path) -> Path:
    """Two recordings (2 s, 3 s), two speakers, four segments, every optional file."""
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    for name, seconds in (("r1", 2.0), ("r2", 3.0)):
        sf.write(audio / f"{name}.wav", rng.uniform(-0.1, 0.1, int(seconds * RATE)), RATE)
    segs = {
        "A-r1-0000": Segment("r1", 0.0, 1.0),
        "A-r2-0000": Segment("r2", 0.0, 1.5),
        "B-r1-0050": Segment("r1", 0.5, 2.0),
        "B-r2-0100": Segment("r2", 1.0, 3.0),
    }
    d = tmp_path / "data"
    KaldiDataDir(d).write(
        wav_scp={"r1": str(audio / "r1.wav"), "r2": str(audio / "r2.wav")},
        segments=segs,
        utt2spk={u: u[0] for u in segs},
        text={u: f"words of {u.lower()}" for u in segs},
        reco2dur={"r1": 2.0, "r2": 3.0},
        utt2dur={u: s.duration for u, s in segs.items()},
        rttm=[Turn(s.recording, u[0], s.start, s.end) for u, s in segs.items()],
        uem={"r1": (0.0, 2.0), "r2": (0.0, 3.0)},
    )
    return d


def set_line(path: Path, lineno: int, content: bytes) -> None:
    """Replace line ``lineno`` (1-based) of a file; ``b""`` deletes it."""
    lines = path.read_bytes().split(b"\n")[:-1]
    lines[lineno - 1 : lineno] = [content] if content else []
    path.write_bytes(b"\n".join(lines) + b"\n")


def errors(report):
    return [str(p) for p in report.errors]


@pytest.fixture
def good(tmp_path):
    return make_good_dir(tmp_path)


def test_good_dir_passes(good):
    report = validate_data_dir(good, audio="read")
    assert report.problems == []
    assert report.ok
    assert report.counts == {"utterances": 4, "speakers": 2, "recordings": 2}
    assert report.hours == pytest.approx(6.0 / 3600)
    assert report.summary().startswith(f"{good}: OK (4 utterances")


# Each case: (file, line to replace, new content) and the expected "file:line: fragment".
CASES = {
    "duplicate key": ("text", 2, b"A-r1-0000 again", [("text", 2, "duplicate key 'A-r1-0000' (first on line 1)")]),
    "segment past end": ("segments", 3, b"B-r1-0050 r1 0.50 2.50", [("segments", 3, "after the end of recording 'r1'")]),
    "utt missing from text": ("text", 2, b"", [("utt2spk", 2, "'A-r2-0000' has no line in text")]),
    "utt only in text": ("text", 4, b"B-r2-0100 x\nC-r9-0000 y", [("text", 5, "'C-r9-0000' has no line in utt2spk")]),
    "bad utf-8": ("text", 3, b"B-r1-0050 caf\xe9", [("text", 3, "not valid UTF-8")]),
    "wrong field count": ("utt2spk", 2, b"A-r2-0000 A extra", [("utt2spk", 2, "expected 2 fields, got 3")]),
    "segments field count": ("segments", 1, b"A-r1-0000 r1 0 1 x", [("segments", 1, "expected 4 fields, got 5")]),
    "negative duration": ("utt2dur", 1, b"A-r1-0000 -1.0", [("utt2dur", 1, "negative value")]),
    "negative reco2dur": ("reco2dur", 2, b"r2 -3", [("reco2dur", 2, "negative value")]),
    "start equals end": ("segments", 1, b"A-r1-0000 r1 1.00 1.00", [("segments", 1, "not after its start")]),
    "negative start": ("segments", 1, b"A-r1-0000 r1 -0.5 1.00", [("segments", 1, "negative segment start")]),
    "unknown recording": ("segments", 4, b"B-r2-0100 r9 1.0 3.0", [("segments", 4, "recording 'r9'")]),
    "spk2utt mismatch": ("spk2utt", 1, b"A A-r1-0000", [("utt2spk", 2, "'A-r2-0000' is missing from spk2utt")]),
    "spk2utt wrong speaker": ("spk2utt", 1, b"A A-r1-0000 A-r2-0000 B-r1-0050", [("spk2utt", 1, "utt2spk says 'B'")]),
    "utt2dur disagrees": ("utt2dur", 2, b"A-r2-0000 1.7", [("utt2dur", 2, "!= 1.5 s")]),
    "rttm bad line": ("rttm", 2, b"SPEAKER r1 1 x 1.0 <NA> <NA> B <NA> <NA>", [("rttm", 2, "onset is not a number")]),
    "rttm unknown recording": ("rttm", 1, b"SPEAKER r7 1 0 1 <NA> <NA> A <NA> <NA>", [("rttm", 1, "'r7' is not in")]),
    "rttm past end": ("rttm", 1, b"SPEAKER r1 1 1.5 1.0 <NA> <NA> A <NA> <NA>", [("rttm", 1, "after the end of 'r1'")]),
    "uem field count": ("uem", 1, b"r1 1 0.0", [("uem", 1, "expected 4 fields, got 3")]),
    "uem unknown recording": ("uem", 2, b"r5 1 0.0 3.0", [("uem", 2, "'r5' is not in")]),
    "reco2dur missing recording": ("reco2dur", 2, b"", [("wav.scp", 2, "'r2' has no line in reco2dur")]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_case_is_reported_at_its_line(good, case):
    file, lineno, content, expected = CASES[case]
    set_line(good / file, lineno, content)
    report = validate_data_dir(good, audio="exists")
    assert not report.ok
    found = errors(report)
    for efile, eline, fragment in expected:
        prefix = f"{good / efile}:{eline}: "
        assert any(e.startswith(prefix) and fragment in e for e in found), (prefix, fragment, found)


def test_unsorted_file(good):
    lines = (good / "utt2spk").read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    (good / "utt2spk").write_text("\n".join(lines) + "\n")
    assert errors(validate_data_dir(good)) == [
        f"{good / 'utt2spk'}:2: not sorted: 'A-r1-0000' after 'A-r2-0000' (line 1); sort with LC_ALL=C sort"
    ]


def test_bad_utf8_is_reported_once(good):
    set_line(good / "text", 3, b"B-r1-0050 caf\xe9")
    assert errors(validate_data_dir(good)) == [f"{good / 'text'}:3: not valid UTF-8 (unexpected end of data at byte 13)"]


def test_multiply_broken_dir_reports_every_problem(good):
    set_line(good / "utt2spk", 2, b"A-r2-0000 A extra")  # field count
    set_line(good / "text", 3, b"B-r1-0050 caf\xe9")  # UTF-8
    set_line(good / "segments", 4, b"B-r2-0100 r2 1.0 9.0")  # past end
    set_line(good / "segments", 1, b"A-r1-0000 r1 1.0 0.5")  # end before start
    set_line(good / "utt2dur", 1, b"Z-r1-0000 1.0")  # unsorted + unknown utterance
    set_line(good / "uem", 2, b"r3 1 0 1")  # unknown recording
    (good / "text").write_bytes((good / "text").read_bytes() + b"A-r1-0000 duplicate\n")
    found = errors(validate_data_dir(good))
    expected = [
        ("utt2spk", 2, "expected 2 fields"),
        ("text", 3, "not valid UTF-8"),
        ("text", 5, "duplicate key"),
        ("segments", 4, "after the end of recording 'r2'"),
        ("segments", 1, "not after its start"),
        ("utt2dur", 2, "not sorted"),
        ("utt2dur", 1, "'Z-r1-0000' has no line in utt2spk"),
        ("utt2spk", 1, "'A-r1-0000' has no line in utt2dur"),
        ("uem", 2, "'r3' is not in"),
    ]
    for efile, eline, fragment in expected:
        prefix = f"{good / efile}:{eline}: "
        assert any(e.startswith(prefix) and fragment in e for e in found), (prefix, fragment, found)
    assert len(found) >= len(expected)


def test_missing_required_files(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "utt2spk").write_text("u1 A\n")
    found = errors(validate_data_dir(d))
    assert f"{d / 'spk2utt'}: missing (required)" in found
    assert f"{d / 'text'}: missing (required)" in found
    assert f"{d / 'wav.scp'}: missing (required)" in found
    relaxed = errors(validate_data_dir(d, text=False, audio="none"))
    assert relaxed == [f"{d / 'spk2utt'}: missing (required)"]


def test_warnings_do_not_fail(good):
    set_line(good / "text", 1, b"A-r1-0000")
    report = validate_data_dir(good)
    assert report.ok
    assert [str(p) for p in report.warnings] == [f"{good / 'text'}:1: warning: empty transcript for 'A-r1-0000'"]


def test_non_contiguous_speakers_warn(tmp_path):
    d = tmp_path / "d"
    KaldiDataDir(d).write(utt2spk={"u1": "A", "u2": "B", "u3": "A"}, text={"u1": "a", "u2": "b", "u3": "c"})
    report = validate_data_dir(d, audio="none")
    assert report.ok
    assert [(p.line, p.warning) for p in report.problems] == [(3, True)]
    assert validate_data_dir(d, audio="none", spk_sort=False).problems == []


def test_audio_checks(good, tmp_path):
    wav = (good / "wav.scp").read_text().splitlines()
    sf.write(tmp_path / "low.wav", np.zeros(8000 * 2), 8000)
    sf.write(tmp_path / "stereo.wav", np.zeros((RATE * 3, 2)), RATE)
    (good / "wav.scp").write_text(f"r1 {tmp_path / 'low.wav'}\nr2 {tmp_path / 'stereo.wav'}\n")
    assert validate_data_dir(good, audio="exists").ok
    found = errors(validate_data_dir(good, audio="read"))
    assert found == [
        f"{good / 'wav.scp'}:1: 'r1': sample rate 8000 Hz, expected 16000",
        f"{good / 'wav.scp'}:2: 'r2': 2 channels, expected mono",
    ]
    (good / "wav.scp").write_text(f"{wav[0]}\nr2 {tmp_path / 'gone.wav'}\n")
    assert errors(validate_data_dir(good)) == [f"{good / 'wav.scp'}:2: file of 'r2' not found: {tmp_path / 'gone.wav'}"]
    assert validate_data_dir(good, audio="none").ok


def test_audio_read_through_pipe_checks_length(good):
    r1 = (good / "wav.scp").read_text().splitlines()[0].split()[1]
    r2 = (good / "wav.scp").read_text().splitlines()[1].split()[1]
    (good / "wav.scp").write_text(f"r1 cat {r1} |\nr2 false |\n")
    set_line(good / "reco2dur", 1, b"r1 2.5")
    found = errors(validate_data_dir(good, audio="read"))
    assert f"{good / 'reco2dur'}:1: 'r1': 2.5 s, but the audio has 2.000 s" in found
    assert any(e.startswith(f"{good / 'wav.scp'}:2: wav.scp key 'r2': command failed") for e in found)
    assert r2  # the second file exists but is not used


def test_cli_exit_codes_and_output(good, capsys):
    assert cli.main([str(good), "--check-audio"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [f"{good}: OK (4 utterances, 2 speakers, 2 recordings, 0.00 h)"]
    set_line(good / "segments", 1, b"A-r1-0000 r1 1.00 1.00")
    set_line(good / "utt2spk", 4, b"B-r2-0100 B x")
    assert cli.main([str(good), "--no-feats"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert f"{good / 'utt2spk'}:4: expected 2 fields, got 3" in lines
    assert any(line.startswith(f"{good / 'segments'}:1: ") for line in lines)
    assert lines[-1].startswith(f"{good}: ") and "errors" in lines[-1]


def test_shell_wrapper(good):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    ok = subprocess.run([str(ROOT / "utils" / "validate_data_dir.sh"), str(good)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    set_line(good / "text", 2, b"")
    bad = subprocess.run(
        [str(ROOT / "utils" / "validate_data_dir.sh"), "--no-wav", str(good)], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1
    assert f"{good / 'utt2spk'}:2: utterance 'A-r2-0000' has no line in text" in bad.stdout
    usage = subprocess.run([str(ROOT / "utils" / "validate_data_dir.sh")], capture_output=True, text=True, env=env)
    assert usage.returncode != 0 and "usage" in usage.stderr.lower()


def test_problem_formatting():
    assert str(Problem("d/text", 3, "boom")) == "d/text:3: boom"
    assert str(Problem("d/text", None, "boom", warning=True)) == "d/text: warning: boom"
