"""Tests of utils/split_scp.pl (and its split_scp.sh alias)."""

import subprocess
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "utils"


def split(tmp_path, *args, script="split_scp.pl"):
    return subprocess.run([str(UTILS / script), *map(str, args)], capture_output=True, text=True, cwd=tmp_path)


def read(path):
    return path.read_text().splitlines()


@pytest.mark.parametrize("n_lines, n_pieces", [(10, 3), (7, 7), (5, 1), (100, 8)])
def test_split_by_lines_keeps_order_and_balances(tmp_path, n_lines, n_pieces):
    lines = [f"utt{i:03d} /x/{i}.wav" for i in range(n_lines)]
    (tmp_path / "in.scp").write_text("\n".join(lines) + "\n")
    outs = [tmp_path / f"out.{i}.scp" for i in range(1, n_pieces + 1)]
    proc = split(tmp_path, "in.scp", *outs)
    assert proc.returncode == 0, proc.stderr
    pieces = [read(o) for o in outs]
    assert sum(pieces, []) == lines
    sizes = [len(p) for p in pieces]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_more_pieces_than_lines_is_an_error(tmp_path):
    (tmp_path / "in.scp").write_text("a 1\nb 2\n")
    proc = split(tmp_path, "in.scp", "o1", "o2", "o3")
    assert proc.returncode == 1
    assert "3 pieces requested but in.scp has only 2 lines" in proc.stderr
    assert not (tmp_path / "o1").exists()


def test_split_by_speaker_never_splits_a_speaker(tmp_path):
    spk_sizes = {"s1": 5, "s2": 1, "s3": 2, "s4": 4, "s5": 3, "s6": 1}
    utt2spk = [f"{s}-{i} {s}" for s, n in spk_sizes.items() for i in range(n)]
    (tmp_path / "utt2spk").write_text("\n".join(utt2spk) + "\n")
    (tmp_path / "text").write_text("".join(f"{line.split()[0]} words\n" for line in utt2spk))
    outs = [tmp_path / f"t.{i}" for i in (1, 2, 3)]
    proc = split(tmp_path, "--utt2spk=utt2spk", "text", *outs)
    assert proc.returncode == 0, proc.stderr
    pieces = [read(o) for o in outs]
    assert sum(pieces, []) == read(tmp_path / "text")
    owners = {}
    for k, piece in enumerate(pieces):
        assert piece, "every piece gets at least one speaker"
        for line in piece:
            owners.setdefault(line.split("-")[0], set()).add(k)
    assert all(len(v) == 1 for v in owners.values())
    sizes = [len(p) for p in pieces]
    assert max(sizes) <= 7  # 16 lines: a balanced split is possible without splitting speakers
    # the .sh alias and the space-separated option form behave the same
    outs2 = [tmp_path / f"u.{i}" for i in (1, 2, 3)]
    assert split(tmp_path, "--utt2spk", "utt2spk", "text", *outs2, script="split_scp.sh").returncode == 0
    assert [read(o) for o in outs2] == pieces


def test_speaker_split_errors(tmp_path):
    (tmp_path / "utt2spk").write_text("a-1 a\na-2 a\nb-1 b\n")
    (tmp_path / "in").write_text("a-1 x\na-2 x\nb-1 x\n")
    proc = split(tmp_path, "--utt2spk", "utt2spk", "in", "o1", "o2", "o3")
    assert proc.returncode == 1 and "has only 2 speakers" in proc.stderr
    (tmp_path / "in").write_text("a-1 x\nb-1 x\na-2 x\n")
    proc = split(tmp_path, "--utt2spk", "utt2spk", "in", "o1", "o2")
    assert proc.returncode == 1 and "in:3: lines of speaker a are not consecutive" in proc.stderr
    (tmp_path / "in").write_text("a-1 x\nzz x\n")
    proc = split(tmp_path, "--utt2spk", "utt2spk", "in", "o1")
    assert proc.returncode == 1 and "in:2: utterance zz is not in utt2spk" in proc.stderr


def test_usage(tmp_path):
    proc = split(tmp_path)
    assert proc.returncode == 1 and "Usage: split_scp.pl" in proc.stderr
    proc = split(tmp_path, "missing.scp", "o1")
    assert proc.returncode == 1 and "cannot read missing.scp" in proc.stderr
