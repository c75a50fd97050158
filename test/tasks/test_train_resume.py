"""Stage 7 killed with SIGKILL mid-run resumes (ESPnet's Trainer, --resume true) to the same model."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny

pytestmark = pytest.mark.slow  # trains through ESPnet's Trainer, three times


def _cmd(work: Path, out: Path):
    data = work / "data"
    cmd = [sys.executable, "-m", "espnet_tagspeech.bin.tagspeech_train", "--config", str(work / "config.yaml"),
           "--output_dir", str(out), "--ngpu", "0", "--seed", "0", "--resume", "true",
           "--max_epoch", "3", "--num_iters_per_epoch", "6", "--num_att_plot", "0"]
    for part in ("train", "valid"):
        cmd += [f"--{part}_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
                f"--{part}_data_path_and_name_and_type", f"{data}/text,text,text",
                f"--{part}_shape_file", f"{data}/speech_shape", f"--{part}_shape_file", f"{data}/text_shape"]
    return cmd


def test_killed_training_resumes_to_the_uninterrupted_model(tmp_path):
    setup_tiny(str(tmp_path), num_cuts=3)
    subprocess.run(_cmd(tmp_path, tmp_path / "whole"), check=True, capture_output=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(tmp_path, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (out / "checkpoint.pth").exists() and proc.poll() is None:  # epoch 1 done
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.05)
    time.sleep(random.Random(0).uniform(0.0, 1.0))  # somewhere in epoch 2
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "training ended before it could be killed"
    assert not (out / "3epoch.pth").exists()

    rerun = subprocess.run(_cmd(tmp_path, out), check=True, capture_output=True, text=True)
    assert "checkpoint.pth" in rerun.stderr  # ESPnet logs the checkpoint it resumes from
    whole = torch.load(tmp_path / "whole" / "3epoch.pth", map_location="cpu", weights_only=True)
    resumed = torch.load(out / "3epoch.pth", map_location="cpu", weights_only=True)
    assert set(whole) == set(resumed)
    differ = [k for k in whole if not torch.equal(whole[k], resumed[k])]
    assert not differ, f"{len(differ)} of {len(whole)} tensors differ, e.g. {differ[:3]}"
