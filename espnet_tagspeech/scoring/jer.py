"""Jaccard error rate (DIHARD II) exactly as dscore computes it.

dscore computes JER on a frame grid, without collars:

* Frames are ``t_i = step * i`` for ``i < int(last_region_end / step)``; a
  speaker is active in frame ``i`` when ``onset <= t_i < offset`` for one of
  its (trimmed, merged, *unrounded*) turns, and only frames with
  ``region_on <= t_i < region_off`` are kept.
* Per recording, for every pair of reference speaker ``r`` and system speaker
  ``s``: ``JER(r, s) = 1 - |r & s| / |r | s|`` (frame counts). The mapping is
  the one-to-one assignment (Hungarian) minimising the summed JER.
* A mapped reference speaker's error is ``(FA + MISS) / TOTAL`` = its
  ``JER(r, s)``; a reference speaker left without a system speaker (more
  reference than system speakers) scores 100 %. Unmapped *system* speakers
  are not penalised.
* File JER = mean over its reference speakers. Edge cases: no reference but
  some system speakers: 100 %; reference but no system speakers: 100 %; neither:
  0 %.
* Overall JER = mean over the reference speakers of all files (not the mean
  of the file JERs); 100 % if no file has reference speakers but some has
  system speakers, 0 % if no file has either.
* Reference speakers with less than ``min_ref_dur`` seconds
  (``int(min_ref_dur / step)`` frames) are dropped first (dscore's
  ``--jer_min_ref_dur``, default 0).

dscore fails (NaN in the assignment) on a pair of speakers that both have
zero frames inside the regions (turns shorter than a frame, or cut off by
dscore's ``int(end / step)`` frame count); here such a pair agrees (JER 0).

pyannote.metrics ``JaccardErrorRate`` follows the same DIHARD definition but
differs in two ways: it pairs speakers with the DER mapping (maximal
co-speaking time) instead of the assignment minimising the summed JER, and it
measures time exactly instead of on a frame grid (it also returns 100 % for a
file without reference speakers). Its numbers are usually within a few tenths
of a percent of dscore's but can differ by more; the tests check this module
against a brute-force frame implementation instead.
"""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from espnet_tagspeech.scoring.regions import Region, SpeakerIntervals, activity_matrix


def frame_labels(
    spk: SpeakerIntervals, regions: Sequence[Region], step: float = 0.01
) -> np.ndarray:
    """Frame-level activity matrix as dscore's ``turns_to_frames`` builds it.

    Args:
        spk: ``{speaker: (n, 2) intervals}`` of one recording.
        regions: Scoring regions of the recording.
        step: Frame step in seconds.

    Returns:
        ``(n_kept_frames, n_speakers)`` bool array, columns in ``spk`` order.
    """
    times = _frame_times(regions, step)
    n_frames = len(times)
    # One row per speaker (contiguous), so the running sums run along memory.
    diff = np.zeros((len(spk), n_frames + 1), dtype=np.int32)
    for j, name in enumerate(spk):
        iv = spk[name]
        if len(iv):
            np.add.at(diff[j], np.searchsorted(times, iv[:, 0]), 1)
            np.add.at(diff[j], np.searchsorted(times, iv[:, 1]), -1)
    active = np.cumsum(diff, axis=1)[:, :n_frames] > 0
    keep = np.zeros(n_frames + 1, dtype=np.int32)
    for on, off in regions:
        b, e = np.searchsorted(times, (on, off))
        keep[b] += 1
        keep[e] -= 1
    return active[:, np.cumsum(keep)[:n_frames] > 0].T


def _frame_times(regions: Sequence[Region], step: float) -> np.ndarray:
    """dscore's frame times ``step * i`` up to the last region end."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    dur = max((off for _, off in regions), default=0.0)
    return step * np.arange(int(dur / step))


def frame_counts(
    ref: SpeakerIntervals, sys: SpeakerIntervals, regions: Sequence[Region], step: float = 0.01
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame counts of :func:`frame_labels` without building the frame matrix.

    Each speaker's frames form index ranges ``[searchsorted(onset),
    searchsorted(offset))``; cutting the frame axis at every range edge gives
    stretches of frames with constant activity, whose lengths are summed.
    The counts equal those of the explicit frame matrix exactly.

    Returns:
        ``(ref_frames (R,), sys_frames (S,), shared_frames (R, S))`` as float arrays.
    """
    times = _frame_times(regions, step)
    n = len(times)

    def ranges(iv: np.ndarray) -> np.ndarray:
        return np.searchsorted(times, np.asarray(iv, dtype=np.float64).reshape(-1, 2))

    ref_r = [ranges(ref[k]) for k in ref]
    sys_r = [ranges(sys[k]) for k in sys]
    keep_r = ranges(np.array(regions, dtype=np.float64))
    parts = [a.ravel() for a in ref_r + sys_r] + [keep_r.ravel(), np.array([0, n])]
    bounds = np.unique(np.concatenate(parts))
    w = np.diff(bounds).astype(np.float64) * activity_matrix(bounds, [keep_r])[:, 0]
    r = activity_matrix(bounds, ref_r).astype(np.float64)
    s = activity_matrix(bounds, sys_r).astype(np.float64)
    return w @ r, w @ s, (r * w[:, None]).T @ s


@dataclass(frozen=True)
class FileJer:
    """JER of one recording.

    Attributes:
        jer: File JER in percent.
        speaker_jers: Per kept reference speaker JER in percent (empty when
            the file has no reference speakers or no system speakers and no
            reference speakers).
        n_ref: Number of kept reference speakers.
        n_sys: Number of system speakers.
    """

    jer: float
    speaker_jers: Tuple[float, ...]
    n_ref: int
    n_sys: int


def jer_for_file(
    ref: SpeakerIntervals,
    sys: SpeakerIntervals,
    regions: Sequence[Region],
    step: float = 0.01,
    min_ref_dur: float = 0.0,
) -> FileJer:
    """JER of one recording with dscore's semantics.

    Args:
        ref: Reference speaker intervals (trimmed to ``regions``, merged).
        sys: System speaker intervals, likewise.
        regions: Scoring regions.
        step: Frame step in seconds (dscore default 0.01).
        min_ref_dur: Drop reference speakers with less speech than this.

    Returns:
        The :class:`FileJer`.
    """
    from scipy.optimize import linear_sum_assignment

    ref_durs, sys_durs, inter = frame_counts(ref, sys, regions, step)
    keep = ref_durs >= int(min_ref_dur / step)
    ref_durs, inter = ref_durs[keep], inter[keep]
    n_ref, n_sys = int(ref_durs.size), int(sys_durs.size)
    if n_ref == 0:
        return FileJer(100.0 if n_sys > 0 else 0.0, (), 0, n_sys)
    if n_sys == 0:
        return FileJer(100.0, (100.0,) * n_ref, n_ref, 0)
    union = ref_durs[:, None] + sys_durs[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        pair = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
    rows, cols = linear_sum_assignment(pair)
    jers = np.ones(n_ref)
    jers[rows] = pair[rows, cols]
    jers *= 100.0
    return FileJer(float(jers.mean()), tuple(float(x) for x in jers), n_ref, n_sys)


def overall_jer(files: Sequence[FileJer]) -> float:
    """dscore's overall JER: mean over all reference speakers of all files."""
    all_jers: List[float] = [j for f in files for j in f.speaker_jers]
    n_ref = sum(f.n_ref for f in files)
    n_sys = sum(f.n_sys for f in files)
    if n_ref == 0:
        return 100.0 if n_sys > 0 else 0.0
    if n_sys == 0:
        return 100.0
    return float(np.mean(all_jers))
