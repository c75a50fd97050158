"""Segment selection and pairs of bench/bench_speaker_eer.py (no audio, no models)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from espnet_tagspeech.data.formats import read_rttm

_PATH = Path(__file__).resolve().parents[2] / "bench" / "bench_speaker_eer.py"
_spec = importlib.util.spec_from_file_location("bench_speaker_eer", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


RTTM = """\
SPEAKER r1 1 0.000 3.000 <NA> <NA> a <NA> <NA>
SPEAKER r1 1 2.500 2.000 <NA> <NA> b <NA> <NA>
SPEAKER r1 1 5.000 1.100 <NA> <NA> a <NA> <NA>
SPEAKER r1 1 7.000 1.300 <NA> <NA> a <NA> <NA>
SPEAKER r1 1 7.500 0.300 <NA> <NA> b <NA> <NA>
SPEAKER r2 1 0.000 2.000 <NA> <NA> a <NA> <NA>
SPEAKER r2 1 3.000 6.000 <NA> <NA> c <NA> <NA>
"""


def test_select_segments(tmp_path):
    (tmp_path / "rttm").write_text(RTTM)
    segs = bench.select_segments(read_rttm(tmp_path / "rttm"), min_sec=1.0, trim=0.1, max_per_speaker=5)
    got = [(s.recording, s.speaker, round(s.start, 3), round(s.end, 3)) for s in segs]
    assert got == [
        ("r1", "a", 0.1, 2.4),  # b starts at 2.5
        ("r1", "b", 3.1, 4.4),  # a ends at 3.0
        # a at 5.0-6.1 is 0.9 s once trimmed; a at 7.0-8.3 is cut by b into 0.5 s and 0.5 s
        ("r2", "a", 0.1, 1.9),
        ("r2", "c", 3.1, 8.9),
    ]


def test_select_segments_caps_per_speaker_and_recording(tmp_path):
    lines = [f"SPEAKER r{r} 1 {2 * k}.000 1.500 <NA> <NA> a <NA> <NA>" for r in (1, 2) for k in range(6)]
    (tmp_path / "rttm").write_text("\n".join(lines) + "\n")
    turns = read_rttm(tmp_path / "rttm")
    segs = bench.select_segments(turns, max_per_speaker=2, seed=3)
    assert [s.recording for s in segs] == ["r1", "r1", "r2", "r2"]
    assert segs == bench.select_segments(turns, max_per_speaker=2, seed=3)
    assert len(bench.select_segments(turns, max_per_speaker=0)) == 12


def test_pairs_and_centering():
    segs = [bench.Segment(r, s, 0.0, 1.0) for r, s in [("r1", "a"), ("r1", "b"), ("r1", "a"), ("r2", "a")]]
    pairs, target = bench.pair_indices(segs, "within")
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]] and target.tolist() == [False, True, False]
    pairs, target = bench.pair_indices(segs, "across")
    assert pairs.tolist() == [[0, 3], [1, 3], [2, 3]] and target.tolist() == [True, False, True]
    assert len(bench.pair_indices(segs, "across", max_pairs=2)[0]) == 2
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 3.0]])
    centred = bench.center_by_recording(emb, segs)
    assert np.allclose(centred[:3].mean(0), 0) and np.allclose(centred[3], emb[3])  # r2 has one item
    assert np.allclose(bench.cosine_scores(emb, np.array([[0, 1], [2, 3]])), [0.0, 1.0])
