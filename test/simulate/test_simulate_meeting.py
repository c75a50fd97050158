"""Turn-taking statistics, determinism, and the noise / room options."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.bin import simulate_meetings
from espnet_tagspeech.simulate.grammar import Grammar
from espnet_tagspeech.simulate.meeting import (
    MeetingConfig,
    layout_meeting,
    overlap_stats,
    plan_meeting,
    render_meeting,
)
from espnet_tagspeech.simulate.voices import VOICES, WordBank

POOL = list(VOICES[:4])
GRAMMAR = Grammar(0.3)


@pytest.fixture(scope="module")
def bank(word_cache):
    return WordBank(word_cache)


def _layouts(bank, config, n, seed=11):
    plans = [plan_meeting(seed, "train", i, f"m{i}", config, GRAMMAR, POOL) for i in range(n)]
    for plan in plans:
        for voice, words in plan.words_of().items():
            bank.ensure(voice, words)
    return [layout_meeting(p, config, bank, seed, "train") for p in plans]


def _ratio(layouts):
    speech = overlap = 0.0
    for lay in layouts:
        s, o = overlap_stats([(t.start, t.end) for t in lay.to_turns()])
        speech, overlap = speech + s, overlap + o
    return overlap / speech


@pytest.mark.parametrize("target", [0.1, 0.25])
def test_overlap_ratio_and_speaker_counts_match_config(bank, target):
    cfg = MeetingConfig(min_speakers=2, max_speakers=4, min_duration=25, max_duration=35,
                        overlap_ratio=target)  # fmt: skip
    layouts = _layouts(bank, cfg, 8)
    assert abs(_ratio(layouts) - target) <= 0.05
    counts = [len({t.speaker for t in lay.to_turns()}) for lay in layouts]
    assert all(2 <= c <= 4 for c in counts) and len(set(counts)) >= 2
    for lay in layouts:
        end = max(t.end for t in lay.to_turns())
        assert cfg.min_duration - 8 <= end <= cfg.max_duration
        assert {t.speaker for t in lay.to_turns()} == {v.name for v in lay.plan.voices}


def test_zero_overlap_and_fixed_speaker_count(bank):
    cfg = MeetingConfig(min_speakers=3, max_speakers=3, min_duration=20, max_duration=25,
                        overlap_ratio=0.0)  # fmt: skip
    for lay in _layouts(bank, cfg, 4, seed=12):
        turns = lay.to_turns()
        assert overlap_stats([(t.start, t.end) for t in turns])[1] == 0.0
        assert len({t.speaker for t in turns}) == 3
        gaps = [b.start - a.end for a, b in zip(turns, turns[1:])]
        assert min(gaps) >= cfg.pause[0] - 1e-6


def test_noise_at_requested_snr_and_reverb(bank):
    clean_cfg = MeetingConfig(min_speakers=2, max_speakers=2, min_duration=10, max_duration=12)
    (lay,) = _layouts(bank, clean_cfg, 1, seed=13)
    clean = render_meeting(lay, clean_cfg, bank, 13, "train").astype(np.float64)
    noisy = render_meeting(lay, dataclasses.replace(clean_cfg, noise_snr=10.0), bank, 13, "train")
    noise = noisy.astype(np.float64) - clean
    active = clean != 0
    snr = 10 * np.log10(np.mean(clean[active] ** 2) / np.mean(noise**2))
    assert abs(snr - 10.0) < 1.0
    wet = render_meeting(lay, dataclasses.replace(clean_cfg, reverb=True), bank, 13, "train")
    assert len(wet) == len(clean) and not np.array_equal(wet, clean.astype(np.int16))
    silent = ~active
    # the room response smears sound into the pauses
    assert np.mean(np.abs(wet[silent]) > 0) > 0.05


def _run(out: Path, cache: Path, seed: int, nj: int) -> None:
    argv = ["--out_dir", str(out), "--cache_dir", str(cache), "--num_meetings", "2",
            "--seed", str(seed), "--split", "dev", "--nj", str(nj), "--min_speakers", "2",
            "--max_speakers", "2", "--min_duration", "8", "--max_duration", "10",
            "--vocab_scale", "0.3"]  # fmt: skip
    assert simulate_meetings.main(argv) == 0


def test_same_seed_byte_identical_different_seed_differs(word_cache, tmp_path):
    _run(tmp_path / "a", word_cache, 4, nj=1)
    _run(tmp_path / "b", word_cache, 4, nj=2)
    _run(tmp_path / "c", word_cache, 5, nj=2)
    files = ["truth.jsonl", "rttm", "segments", "text", "utt2spk", "words.ctm", "meetings.json",
             "reco2dur", "ref.seglst.json"]  # fmt: skip
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    wavs = sorted(p.name for p in (tmp_path / "a" / "wav").iterdir())
    assert len(wavs) == 2
    for name in wavs:
        assert (tmp_path / "a" / "wav" / name).read_bytes() == (tmp_path / "b" / "wav" / name).read_bytes()
    assert (tmp_path / "a" / "truth.jsonl").read_text() != (tmp_path / "c" / "truth.jsonl").read_text()
    c_wavs = sorted((tmp_path / "c" / "wav").iterdir())
    assert [p.read_bytes() for p in c_wavs] != [(tmp_path / "a" / "wav" / n).read_bytes() for n in wavs]
