"""Tests of fix_data_dir (library, CLI and utils/fix_data_dir.sh)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from espnet_tagspeech.bin import fix_data_dir as cli
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.fix import fix_data_dir
from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.data.validate import validate_data_dir

ROOT = Path(__file__).resolve().parents[2]


def make_dir(tmp_path: Path) -> Path:
    """A consistent dir of three recordings (audio not needed: validated with audio='none')."""
    segs = {
        "A-r1-0": Segment("r1", 0.0, 1.0),
        "A-r2-0": Segment("r2", 0.0, 1.5),
        "B-r1-1": Segment("r1", 1.0, 2.0),
        "B-r3-0": Segment("r3", 0.0, 2.0),
        "C-r3-1": Segment("r3", 1.0, 3.0),
    }
    d = tmp_path / "data"
    KaldiDataDir(d).write(
        wav_scp={r: f"/audio/{r}.wav" for r in ("r1", "r2", "r3")},
        segments=segs,
        utt2spk={u: u[0] for u in segs},
        text={u: f"text of {u}" for u in segs},
        reco2dur={"r1": 2.0, "r2": 3.0, "r3": 3.0},
        utt2dur={u: s.duration for u, s in segs.items()},
        rttm=[Turn(s.recording, u[0], s.start, s.end) for u, s in segs.items()],
        uem={"r1": (0.0, 2.0), "r2": (0.0, 3.0), "r3": (0.0, 3.0)},
    )
    assert validate_data_dir(d, audio="none").ok
    return d


def lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def break_ids(d: Path) -> None:
    """Make the ids inconsistent in several ways, and unsort a file."""
    # A-r2-0 has no text; an utterance only in text; C-r3-1 lost from utt2dur.
    (d / "text").write_text(
        "Z-r1-9 orphan\nA-r1-0 text of A-r1-0\nB-r1-1 text of B-r1-1\n"
        "C-r3-1 text of C-r3-1\nB-r3-0 text of B-r3-0\n"
    )
    (d / "utt2dur").write_text("A-r1-0 1.000\nA-r2-0 1.500\nB-r1-1 1.000\nB-r3-0 2.000\n")
    # r3 leaves wav.scp, so B-r3-0 (and C-r3-1) go too.
    (d / "wav.scp").write_text("r1 /audio/r1.wav\nr2 /audio/r2.wav\n")


def test_fix_makes_a_broken_ids_dir_validate(tmp_path):
    d = make_dir(tmp_path)
    originals = {n: (d / n).read_bytes() for n in ("text", "utt2dur", "wav.scp", "rttm", "uem")}
    break_ids(d)
    broken = {n: (d / n).read_bytes() for n in originals}
    assert not validate_data_dir(d, audio="none").ok

    report = fix_data_dir(d)
    result = validate_data_dir(d, audio="none")
    assert result.ok, [str(p) for p in result.problems]
    assert result.problems == []

    assert lines(d / "utt2spk") == ["A-r1-0 A", "B-r1-1 B"]
    assert lines(d / "spk2utt") == ["A A-r1-0", "B B-r1-1"]
    assert lines(d / "text") == ["A-r1-0 text of A-r1-0", "B-r1-1 text of B-r1-1"]
    assert lines(d / "segments") == ["A-r1-0 r1 0.000 1.000", "B-r1-1 r1 1.000 2.000"]
    assert lines(d / "wav.scp") == ["r1 /audio/r1.wav"]
    assert lines(d / "reco2dur") == ["r1 2.000"]
    assert [line.split()[1] for line in lines(d / "rttm")] == ["r1", "r1"]
    assert lines(d / "uem") == ["r1 1 0.000 2.000"]
    assert originals["rttm"] != (d / "rttm").read_bytes()

    # originals backed up as they were before the fix
    for name, content in broken.items():
        assert (d / ".backup" / name).read_bytes() == content
    assert report.backup_dir == d / ".backup"

    removed = {f: dict(v) for f, v in report.removed.items()}
    assert removed["text"]["Z-r1-9"] == "missing from utt2spk, segments, utt2dur"
    assert removed["utt2spk"]["A-r2-0"] == "missing from text"
    assert removed["utt2spk"]["C-r3-1"] == "missing from utt2dur"
    assert "recording 'r3'" in removed["utt2spk"]["B-r3-0"]
    assert removed["wav.scp"]["r2"] == "recording not kept"
    assert set(removed["reco2dur"]) == {"r2", "r3"}
    assert report.kept["utt2spk"] == 2 and report.kept["spk2utt"] == 2
    assert any(line.startswith("text: kept 2, removed 3") for line in report.lines())


def test_fix_drops_malformed_and_out_of_range_lines_and_sorts(tmp_path):
    d = make_dir(tmp_path)
    (d / "segments").write_text(
        "B-r1-1 r1 1.0 2.0\nA-r1-0 r1 0.0 1.0\nA-r2-0 r2 0.0 9.0\nB-r3-0 r3 2.0 1.0\nC-r3-1 r3 1.0 3.0 extra\n"
    )
    (d / "text").write_bytes((d / "text").read_bytes() + b"Q caf\xe9\n")
    report = fix_data_dir(d, backup=False)
    assert lines(d / "segments") == ["A-r1-0 r1 0.0 1.0", "B-r1-1 r1 1.0 2.0"]  # kept verbatim, sorted
    assert lines(d / "wav.scp") == ["r1 /audio/r1.wav"]
    assert validate_data_dir(d, audio="none").ok
    removed = report.removed
    assert ("A-r2-0", "segment ends at 9 s, after the recording (3 s)") in removed["utt2spk"]
    assert any(what == "line 4" and "not after its start" in why for what, why in removed["segments"])
    assert any(what == "line 5" and "expected 4 fields" in why for what, why in removed["segments"])
    assert any(what == "line 6" and "UTF-8" in why for what, why in removed["text"])
    assert not (d / ".backup").exists() and report.backup_dir is None


def test_fix_without_segments_uses_wav_ids(tmp_path):
    d = tmp_path / "d"
    KaldiDataDir(d).write(
        wav_scp={"A-1": "/a/1.wav", "B-2": "/a/2.wav"},
        utt2spk={"A-1": "A", "B-2": "B", "C-3": "C"},
        text={"A-1": "x", "B-2": "y", "C-3": "z"},
        utt2lang={"A-1": "en", "B-2": "en", "C-3": "en"},
    )
    (d / "spk2gender").write_text("A f\nB m\nC f\n")
    fix_data_dir(d)
    assert lines(d / "utt2spk") == ["A-1 A", "B-2 B"]
    assert lines(d / "utt2lang") == ["A-1 en", "B-2 en"]
    assert lines(d / "spk2gender") == ["A f", "B m"]
    assert validate_data_dir(d, audio="none").ok


def test_fix_extra_files_and_missing_utt2spk(tmp_path):
    d = make_dir(tmp_path)
    (d / "utt2emotion").write_text("A-r1-0 happy\nB-r1-1 sad\n")
    fix_data_dir(d, utt_extra_files=["utt2emotion"])
    assert lines(d / "utt2spk") == ["A-r1-0 A", "B-r1-1 B"]
    (d / "utt2spk").unlink()
    with pytest.raises(DataFormatError, match="utt2spk: no such file"):
        fix_data_dir(d)


def test_cli_and_shell_wrapper(tmp_path, capsys):
    d = make_dir(tmp_path)
    break_ids(d)
    assert cli.main([str(d)]) == 0
    out = capsys.readouterr().out
    assert "text: kept 2, removed 3" in out
    assert "  - Z-r1-9: missing from utt2spk, segments, utt2dur" in out
    # utt2spk 3 + text 3 + segments 3 + utt2dur 2 + wav.scp 1 + reco2dur 2 + rttm 3 + uem 2
    assert out.strip().splitlines()[-1] == f"{d}: removed 19 lines; originals in {d / '.backup'}"
    assert validate_data_dir(d, audio="none").ok

    d2 = make_dir(tmp_path / "second")
    (d2 / "text").write_text("A-r1-0 only this one\n")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([str(ROOT / "utils" / "fix_data_dir.sh"), str(d2)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert lines(d2 / "utt2spk") == ["A-r1-0 A"]
    assert lines(d2 / "spk2utt") == ["A A-r1-0"]
    assert cli.main([str(tmp_path / "nowhere")]) == 1
