"""The mini_meeting data stage (local/data.sh --tiny) end to end."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from espnet_tagspeech.data.validate import validate_data_dir
from espnet_tagspeech.simulate.grammar import BACKCHANNELS

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_meeting" / "tagspeech1"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_data_sh_tiny_writes_valid_sets(tmp_path):
    env = dict(os.environ)
    proc = subprocess.run(
        ["bash", "local/data.sh", "--tiny", "--data_dir", str(tmp_path / "data"),
         "--simdir", str(tmp_path / "sim"), "--train_overlap_ratio", "0"],
        cwd=RECIPE, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for x in ("train", "dev", "test"):
        d = tmp_path / "data" / x
        for name in ("wav.scp", "segments", "utt2spk", "spk2utt", "text", "reco2dur", "rttm",
                     "uem", "words.ctm", "ref.seglst.json", "spk2gender"):  # fmt: skip
            assert (d / name).is_file(), f"{x}/{name} missing"
        report = validate_data_dir(d, audio="read")
        assert report.ok, "\n".join(map(str, report.problems))
        # the recipe's default pool: training voices with warped formants beside the stock ones
        assert json.loads((d / "meetings.json").read_text())["summary"]["voice_pool"] == "warped"
    # --train_overlap_ratio is the training meetings' alone: none overlapped, test as always
    summary = {x: json.loads((tmp_path / "data" / x / "meetings.json").read_text())["summary"] for x in ("train", "test")}
    assert summary["train"]["overlap_ratio"] == 0.0 and summary["test"]["overlap_ratio"] > 0.05
    # sentences of different splits never repeat across them (backchannels aside)
    texts = {x: set((tmp_path / "data" / x / "text").read_text().split("\n")) for x in ("train", "test")}
    train = {line.split(" ", 1)[1] for line in texts["train"] if line}
    test = {line.split(" ", 1)[1] for line in texts["test"] if line}
    assert train and test and not (train & test) - set(BACKCHANNELS)
