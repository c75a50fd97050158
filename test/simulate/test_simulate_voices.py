"""Voices and word synthesis: trimming, resampling, determinism, missing espeak-ng."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.simulate import voices as V

REPO = Path(__file__).resolve().parents[2]


def test_trim_cuts_silence_to_the_frame():
    x = np.zeros(16000)
    x[4000:8000] = np.sin(np.arange(4000) * 0.3)
    y = V.trim(x)
    assert len(y) == 4000 and np.array_equal(y, x[4000:8000])
    assert len(V.trim(np.zeros(800))) == 0


def test_resample_keeps_frequency_and_length():
    t = np.arange(22050) / 22050
    y = V.resample(np.sin(2 * np.pi * 1000 * t), 22050, 16000)
    assert len(y) == 16000
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) - 1000) <= 1  # 1 Hz bins
    assert abs(np.sqrt(np.mean(y[2000:-2000] ** 2)) - np.sqrt(0.5)) < 0.02


def test_voice_pool():
    names = [v.name for v in V.VOICES]
    assert len(set(names)) == len(names) == 16
    assert len({(v.espeak_voice, v.pitch, v.speed) for v in V.VOICES}) == 16
    for v in V.VOICES:
        assert v.gender == ("f" if v.variant.startswith("f") else "m") == v.name[0]
    pools = [set(V.voice_pool(s, disjoint=True)) for s in ("train", "dev", "test")]
    assert [len(p) for p in pools] == [8, 4, 4]
    assert not (pools[0] & pools[1] or pools[0] & pools[2] or pools[1] & pools[2])
    assert all(sorted(v.gender for v in p).count("f") == len(p) // 2 for p in pools)
    assert V.voice_pool("dev") == list(V.VOICES)


@pytest.mark.usefixtures("word_cache")
def test_synthesize_word_is_trimmed_and_deterministic():
    a = V.synthesize_word(V.VOICES[0], "budget")
    b = V.synthesize_word(V.VOICES[0], "budget")
    c = V.synthesize_word(V.VOICES[1], "budget")
    assert a.dtype == np.int16 and np.array_equal(a, b)
    assert not (len(a) == len(c) and np.array_equal(a, c))
    assert 0.15 < len(a) / V.SAMPLE_RATE < 1.0
    x = a.astype(np.float64)
    n = len(x) // 80
    rms = np.sqrt(np.mean(x[: n * 80].reshape(n, 80) ** 2, axis=1))
    thr = rms.max() * 10 ** (-V.TRIM_DB / 20)
    assert rms[0] >= thr and rms[-1] >= thr  # no silence left at either edge


def test_word_bank_cache_round_trip(word_cache, tmp_path):
    bank = V.WordBank(tmp_path)
    assert bank.ensure(V.VOICES[2], ["okay", "friday"]) == 2
    assert bank.ensure(V.VOICES[2], ["okay"]) == 0
    again = V.WordBank(tmp_path)  # reads the npz written by the first bank
    assert again.missing(V.VOICES[2], ["okay", "friday", "monday"]) == ["monday"]
    assert np.array_equal(again.clip(V.VOICES[2], "okay"), bank.clip(V.VOICES[2], "okay"))


def test_missing_espeak_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(V.EspeakNotFoundError, match="apt-get install espeak-ng"):
        V.check_espeak()


def test_cli_without_espeak_prints_advice_not_traceback(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_tagspeech.bin.simulate_meetings", "--out_dir",
         str(tmp_path / "out"), "--num_meetings", "1"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "apt-get install espeak-ng" in proc.stderr and "make install-system" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_rejects_bad_options(tmp_path, capsys):
    from espnet_tagspeech.bin import simulate_meetings

    rc = simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                 "--min_speakers", "3", "--max_speakers", "2"])  # fmt: skip
    assert rc == 2 and "min_speakers" in capsys.readouterr().err
    rc = simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                 "--max_speakers", "6", "--disjoint_voices", "--split", "dev"])  # fmt: skip
    assert rc == 2 and "voice pool" in capsys.readouterr().err
