"""Tests of utils/utt2spk_to_spk2utt.sh, utils/spk2utt_to_utt2spk.sh and utils/filter_scp.sh."""

import subprocess
from pathlib import Path

UTILS = Path(__file__).resolve().parents[2] / "utils"


def sh(tmp_path, script, *args, stdin=None):
    return subprocess.run(
        [str(UTILS / script), *map(str, args)], capture_output=True, text=True, cwd=tmp_path, input=stdin
    )


UTT2SPK = "a-1 a\na-2 a\nb-1 b\nc-1 c\nc-2 c\nc-3 c\n"


def test_utt2spk_to_spk2utt_and_back(tmp_path):
    (tmp_path / "utt2spk").write_text(UTT2SPK)
    proc = sh(tmp_path, "utt2spk_to_spk2utt.sh", "utt2spk")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "a a-1 a-2\nb b-1\nc c-1 c-2 c-3\n"
    back = sh(tmp_path, "spk2utt_to_utt2spk.sh", stdin=proc.stdout)
    assert back.returncode == 0 and back.stdout == UTT2SPK
    # speakers in order of first appearance, utterances gathered across the file
    mixed = sh(tmp_path, "utt2spk_to_spk2utt.sh", stdin="u1 B\nu2 A\nu3 B\n")
    assert mixed.stdout == "B u1 u3\nA u2\n"


def test_conversion_errors_name_the_line(tmp_path):
    (tmp_path / "utt2spk").write_text("u1 A\nu2 A extra\n")
    proc = sh(tmp_path, "utt2spk_to_spk2utt.sh", "utt2spk")
    assert proc.returncode == 1
    assert "utt2spk:2: expected 2 fields, got 3" in proc.stderr and proc.stdout == ""
    proc = sh(tmp_path, "spk2utt_to_utt2spk.sh", stdin="A u1\nB\n")
    assert proc.returncode == 1 and ":2: speaker B has no utterances" in proc.stderr
    assert sh(tmp_path, "utt2spk_to_spk2utt.sh", "x", "y").returncode == 1


def test_filter_scp_keep_and_exclude(tmp_path):
    (tmp_path / "in.scp").write_text(UTT2SPK)
    (tmp_path / "ids").write_text("c-1\na-2 anything else\nnot-there\n")
    keep = sh(tmp_path, "filter_scp.sh", "ids", "in.scp")
    assert keep.returncode == 0 and keep.stdout == "a-2 a\nc-1 c\n"
    drop = sh(tmp_path, "filter_scp.sh", "--exclude", "ids", stdin=UTT2SPK)
    assert drop.stdout == "a-1 a\nb-1 b\nc-2 c\nc-3 c\n"
    (tmp_path / "spk").write_text("c\n")
    by_field = sh(tmp_path, "filter_scp.sh", "-f", "2", "spk", "in.scp")
    assert by_field.stdout == "c-1 c\nc-2 c\nc-3 c\n"


def test_filter_scp_errors(tmp_path):
    (tmp_path / "in.scp").write_text(UTT2SPK)
    proc = sh(tmp_path, "filter_scp.sh", "no-ids", "in.scp")
    assert proc.returncode == 1 and "id list 'no-ids' not found" in proc.stderr
    proc = sh(tmp_path, "filter_scp.sh", "-f", "x", "in.scp", "in.scp")
    assert proc.returncode == 1 and "-f needs a positive field number" in proc.stderr
    proc = sh(tmp_path, "filter_scp.sh", "--bad", "in.scp")
    assert proc.returncode == 1 and "unknown option --bad" in proc.stderr and "Usage" in proc.stderr
