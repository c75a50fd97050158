"""Voices and word synthesis: pools, trimming, resampling, determinism, missing espeak-ng."""

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.simulate import voices as V

REPO = Path(__file__).resolve().parents[2]
SPLITS = ("train", "dev", "test")


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


def _tone(n: int, sr: int, duration: float) -> np.ndarray:
    """440 Hz under a smooth envelope that is zero at 0 and ``duration`` seconds."""
    t = np.arange(n) / sr
    return np.sin(2 * np.pi * 440 * t) * np.sin(np.pi * np.clip(t / duration, 0, 1)) ** 2


def test_resample_keeps_time_on_awkward_lengths():
    # 13564 = 4 * 3391 samples: the ratio must hold exactly, whatever the FFT length
    for n in (13564, 11737, 4410):
        y = V.resample(_tone(n, 22050, n / 22050), 22050, 16000)
        assert len(y) == round(n * 16000 / 22050)
        assert np.max(np.abs(y - _tone(len(y), 16000, n / 22050))) < 1e-3


def _is_smooth(j: int) -> bool:
    for f in (2, 3, 5):
        while j % f == 0:
            j //= f
    return j == 1


def test_smooth_fft_lengths():
    for n in (1, 2, 7, 31, 97, 1000, 3391):
        m = V._smooth_at_least(n)
        assert m >= n and _is_smooth(m) and not any(_is_smooth(j) for j in range(n, m))


def test_closed_pool():
    names = [v.name for v in V.VOICES]
    assert len(set(names)) == len(names) == 16
    assert len({(v.espeak_voice, v.pitch, v.speed) for v in V.VOICES}) == 16
    for v in V.VOICES:
        assert v.gender == ("f" if v.variant.startswith("f") else "m") == v.name[0]
    assert all(V.voice_pool(s, "closed") == list(V.VOICES) for s in SPLITS)
    pools = [set(V.voice_pool(s, "closed_disjoint")) for s in SPLITS]
    assert [len(p) for p in pools] == [8, 4, 4]
    assert not (pools[0] & pools[1] or pools[0] & pools[2] or pools[1] & pools[2])
    assert all(sorted(v.gender for v in p).count("f") == len(p) // 2 for p in pools)


def test_open_pool_sizes_genders_and_held_out_variants():
    pools = {s: V.voice_pool(s) for s in SPLITS}
    assert pools["train"] == V.voice_pool("train", "open")  # the default
    assert len(pools["train"]) >= 100 and len(pools["dev"]) >= 12 and len(pools["test"]) >= 12
    for s, pool in pools.items():
        genders = [v.gender for v in pool]
        assert genders.count("m") == genders.count("f"), s
        assert all(v.name[0] == v.gender for v in pool)
        assert len({(v.espeak_voice, v.pitch, v.speed) for v in pool}) == len(pool)
        # every variant listed for the split speaks, and nothing else
        assert {v.variant for v in pool} == {var for var, _ in V.OPEN_VARIANTS[s]}
        assert all(V.PITCH_RANGE[0] <= v.pitch <= V.PITCH_RANGE[1] for v in pool)
        assert {v.language for v in pool} <= set(V.ACCENTS)
    names = [v.name for pool in pools.values() for v in pool]
    assert len(set(names)) == len(names)
    assert not set(names) & {v.name for v in V.VOICES}
    variants = {s: {v.variant for v in pool} for s, pool in pools.items()}
    assert not (variants["train"] & variants["dev"] or variants["train"] & variants["test"]
                or variants["dev"] & variants["test"])  # fmt: skip
    assert not set().union(*variants.values()) & set(V.EXCLUDED_VARIANTS)
    # a held-out split has several variants of each gender, not one voice at many pitches
    for s in ("dev", "test"):
        assert all(len({v.variant for v in pools[s] if v.gender == g}) >= 3 for g in "mf")


def test_open_pool_voices_of_one_variant_differ():
    for s in SPLITS:
        by_variant = defaultdict(list)
        for v in V.voice_pool(s):
            by_variant[v.variant].append(v)
        for variant, vs in by_variant.items():
            assert len({v.language for v in vs}) == len(vs), variant
            pitches = sorted(v.pitch for v in vs)
            assert all(b - a >= 8 for a, b in zip(pitches, pitches[1:])), (variant, pitches)


def test_open_pool_is_fixed():
    # the pool decides what every corpus sounds like: a change must be deliberate
    assert V.voice_pool("train")[0] == V.Voice("m001", "en-us", "klatt", 20, 185, "m")
    assert V.voice_pool("test")[-1] == V.Voice("f208", "en-us-nyc", "grandma", 72, 215, "f")
    assert V.voice_pool("dev")[8] == V.Voice("f101", "en-us", "anika", 20, 185, "f")
    assert V.voice_pool("train") == V.voice_pool("train")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_open_pool_variants_and_genders_are_espeak_ngs():
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    installed = {}
    for line in listing.splitlines()[1:]:
        m = re.match(r"\s*\d+\s+variant\s+\S*/([MF])\s+.*?!v/(.+?)\s*(\(.*\))?$", line)
        assert m, line
        installed[m.group(2)] = m.group(1).lower()
    for s in SPLITS:
        for variant, gender in V.OPEN_VARIANTS[s]:
            assert variant in installed, variant
            # shelby: listed male only because its file has no gender line
            assert gender == installed[variant] or variant == "shelby", variant
    assert set(V.EXCLUDED_VARIANTS) <= set(installed)
    classified = set(V.EXCLUDED_VARIANTS) | {v for s in SPLITS for v, _ in V.OPEN_VARIANTS[s]}
    if "1.51" in subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout:
        assert classified == set(installed), set(installed) ^ classified


def test_unknown_pool_or_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown voice pool 'shared'.*open, warped, closed, closed_disjoint"):
        V.voice_pool("train", "shared")
    with pytest.raises(ValueError, match="unknown split 'eval'"):
        V.voice_pool("eval")


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


@pytest.mark.usefixtures("word_cache")
def test_open_pool_words_are_independent_of_the_words_before():
    dev, test = V.voice_pool("dev"), V.voice_pool("test")
    voice = test[9]  # grandma: strong pitch flutter, whose phase libespeak-ng carries over
    first = V.synthesize_word(voice, "friday")
    clips = V.synthesize_words(voice, ["presentation", "friday", "mhm", "friday"])
    assert all(c.dtype == np.int16 and len(c) > 0.05 * V.SAMPLE_RATE for c in clips)
    assert np.array_equal(clips[1], first) and np.array_equal(clips[3], first)
    V.synthesize_word(dev[0], "wednesday")  # another voice in between
    assert np.array_equal(V.synthesize_word(voice, "friday"), first)
    # held-out voices sound different from each other
    others = [V.synthesize_word(v, "friday") for v in (test[0], test[8], dev[8])]
    assert all(not (len(o) == len(first) and np.array_equal(o, first)) for o in others)


def test_word_bank_cache_round_trip(word_cache, tmp_path):
    bank = V.WordBank(tmp_path)
    assert bank.ensure(V.VOICES[2], ["okay", "friday"]) == 2
    assert bank.ensure(V.VOICES[2], ["okay"]) == 0
    again = V.WordBank(tmp_path)  # reads the npz written by the first bank
    assert again.missing(V.VOICES[2], ["okay", "friday", "monday"]) == ["monday"]
    assert np.array_equal(again.clip(V.VOICES[2], "okay"), bank.clip(V.VOICES[2], "okay"))


def test_word_bank_drops_old_voices_and_reloads_them(word_cache, tmp_path):
    bank = V.WordBank(tmp_path, max_voices=1)
    okay = bank.clip(V.VOICES[3], "okay")
    bank.clip(V.VOICES[4], "okay")
    assert list(bank._clips) == [V.VOICES[4].key]  # the first voice left memory...
    assert np.array_equal(bank.clip(V.VOICES[3], "okay"), okay)  # ...and came back from disk
    memory_only = V.WordBank(None, max_voices=1)
    memory_only.clip(V.VOICES[3], "okay")
    memory_only.clip(V.VOICES[4], "okay")
    assert len(memory_only._clips) == 2  # nothing to reload from: keep everything


def test_missing_espeak_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ESPEAK_NG_LIBRARY", str(tmp_path / "libespeak-ng.so.1"))
    with pytest.raises(V.EspeakNotFoundError, match="apt-get install espeak-ng"):
        V.check_espeak()


def test_cli_without_espeak_prints_advice_not_traceback(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), PYTHONPATH=str(REPO),
               ESPEAK_NG_LIBRARY=str(tmp_path / "missing.so"))  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_tagspeech.bin.simulate_meetings", "--out_dir",
         str(tmp_path / "out"), "--num_meetings", "1"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "apt-get install espeak-ng" in proc.stderr and "make install-system" in proc.stderr
    assert "missing.so" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_rejects_bad_options(tmp_path, capsys):
    from espnet_tagspeech.bin import simulate_meetings

    assert simulate_meetings.VOICE_POOLS == V.POOLS
    rc = simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                 "--min_speakers", "3", "--max_speakers", "2"])  # fmt: skip
    assert rc == 2 and "min_speakers" in capsys.readouterr().err
    rc = simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                 "--max_speakers", "6", "--voice_pool", "closed_disjoint",
                                 "--split", "dev"])  # fmt: skip
    assert rc == 2 and "exceeds the voice pool (4)" in capsys.readouterr().err
    rc = simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                 "--max_speakers", "17", "--split", "test"])  # fmt: skip
    assert rc == 2 and "exceeds the voice pool (16)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        simulate_meetings.main(["--out_dir", str(tmp_path), "--num_meetings", "1",
                                "--voice_pool", "shared"])  # fmt: skip
    assert exc.value.code == 2 and "invalid choice: 'shared'" in capsys.readouterr().err


def test_cli_closed_pool_uses_the_closed_voices(word_cache, tmp_path):
    from espnet_tagspeech.bin import simulate_meetings

    argv = ["--out_dir", str(tmp_path / "d"), "--cache_dir", str(word_cache), "--num_meetings", "1",
            "--seed", "3", "--split", "test", "--nj", "1", "--min_speakers", "2",
            "--max_speakers", "2", "--min_duration", "6", "--max_duration", "8",
            "--vocab_scale", "0.3"]  # fmt: skip
    assert simulate_meetings.main(argv + ["--voice_pool", "closed"]) == 0
    speakers = {line.split()[7] for line in (tmp_path / "d" / "rttm").read_text().splitlines()}
    assert len(speakers) == 2 and speakers <= {v.name for v in V.VOICES}
    assert simulate_meetings.main(argv[:1] + [str(tmp_path / "o")] + argv[2:]) == 0
    speakers = {line.split()[7] for line in (tmp_path / "o" / "rttm").read_text().splitlines()}
    assert len(speakers) == 2 and speakers <= {v.name for v in V.voice_pool("test")}
