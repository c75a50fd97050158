"""Equal error rate of speaker verification scores."""

import numpy as np
import pytest

from espnet_tagspeech.scoring.speaker import equal_error_rate


def test_eer_perfect_separation_is_zero():
    assert equal_error_rate([0.9, 0.8, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0]) == 0.0


def test_eer_reversed_scores_is_one():
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 1.0


def test_eer_identical_distributions_is_half():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(40000)
    labels = rng.random(40000) < 0.3
    assert equal_error_rate(scores, labels) == pytest.approx(0.5, abs=0.02)


def test_eer_all_scores_tied_is_half():
    assert equal_error_rate([0.5] * 6, [1, 1, 0, 0, 0, 0]) == pytest.approx(0.5)


def test_eer_exact_crossing():
    # thresholds 0.9, 0.6, 0.5: (FAR, FRR) = (0, 2/3), (0, 1/3), (1/3, 1/3)
    eer = equal_error_rate([0.9, 0.6, 0.4, 0.5, 0.3, 0.2], [1, 1, 1, 0, 0, 0])
    assert eer == pytest.approx(1 / 3)


def test_eer_interpolated_crossing():
    # (FAR, FRR) at 0.8: (0, 1/3); at 0.7: (1/2, 1/3); the segment crosses FAR = FRR at 1/3
    eer = equal_error_rate([0.9, 0.8, 0.1, 0.7, 0.2], [1, 1, 1, 0, 0])
    assert eer == pytest.approx(1 / 3)
    # (FAR, FRR) at 0.6: (0, 1/2); at 0.5: (1/2, 0): crossing at 1/4
    assert equal_error_rate([0.6, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.25)


def test_eer_needs_both_classes():
    with pytest.raises(ValueError):
        equal_error_rate([0.1, 0.2], [1, 1])
