"""Speaker verification scores: the equal error rate of same-voice / other-voice pairs."""

from typing import Sequence

import numpy as np


def equal_error_rate(scores: Sequence[float], is_target: Sequence[bool]) -> float:
    """Equal error rate of a detector accepting pairs whose score is at least a threshold.

    The threshold sweeps the distinct scores from the highest down; the false
    acceptance rate (non-targets accepted) rises and the false rejection rate
    (targets rejected) falls.  The EER is where the two meet, interpolated
    linearly between the two thresholds that enclose the crossing.

    Args:
        scores: One similarity per pair (higher: more alike).
        is_target: Whether each pair is a target (same voice).

    Returns:
        The EER as a fraction in [0, 1].

    Raises:
        ValueError: without both target and non-target pairs.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(is_target, dtype=bool).ravel()
    if s.shape != t.shape:
        raise ValueError(f"{len(s)} scores for {len(t)} labels")
    n_tar, n_non = int(t.sum()), int((~t).sum())
    if not n_tar or not n_non:
        raise ValueError(f"need target and non-target pairs, got {n_tar} and {n_non}")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[s[1:] != s[:-1], True]  # the last pair of each run of equal scores
    far = np.r_[0.0, np.cumsum(~t)[last] / n_non]  # accepting all scores >= threshold
    frr = np.r_[1.0, 1.0 - np.cumsum(t)[last] / n_tar]
    gap = far - frr  # -1 at the start, +1 at the end, never falling
    k = int(np.argmax(gap >= 0))
    if gap[k] == 0:
        return float(far[k])
    w = -gap[k - 1] / (gap[k] - gap[k - 1])
    return float(far[k - 1] + w * (far[k] - far[k - 1]))
