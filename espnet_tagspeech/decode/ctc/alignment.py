"""Lines and word times from a CTC head alone: Viterbi alignment of its labels.

The semantic stream's CTC head knows in which encoder frames each token is
emitted.  :func:`ctc_line_words` force-aligns the labels of the head's best path
(or of a beam search) to its posteriors with the Viterbi path
(:func:`ctc_viterbi`) and reads the text lines off them, every word with its
time; a time-ordered (t-SOT) head gives overlapping lines.  This is how the
cascade baseline (``text_from: ctc``) writes its ``<text>`` block.
"""

import logging
from typing import TYPE_CHECKING, List, Optional, Sequence

import numpy as np

from espnet_tagspeech.data.turn import Turn

if TYPE_CHECKING:
    from espnet_tagspeech.tsot import TsotLine

logger = logging.getLogger(__name__)


def ctc_viterbi(log_probs: np.ndarray, labels: Sequence[int], blank: int) -> Optional[np.ndarray]:
    """The best CTC path of ``labels``: for each label, its first and last frame.

    Args:
        log_probs: ``(T, V)`` CTC log posteriors.
        labels: The label sequence (no blanks).
        blank: Index of the blank.

    Returns:
        ``(L, 2)`` int array of ``[first_frame, last_frame]`` per label, or
        ``None`` when the labels cannot fit into ``T`` frames.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    num_frames, num_labels = lp.shape[0], len(labels)
    if num_labels == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if any(not 0 <= x < lp.shape[1] or x == blank for x in labels):
        raise ValueError(f"labels must be in [0, {lp.shape[1]}) and not the blank {blank}")
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    if num_frames < num_labels + repeats:
        return None
    ext = np.full(2 * num_labels + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    num_states = len(ext)
    # a skip from s-2 to s is allowed onto a label that differs from the one before
    can_skip = np.zeros(num_states, dtype=bool)
    can_skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(num_states, -np.inf)
    alpha[0], alpha[1] = lp[0, blank], lp[0, ext[1]]
    back = np.zeros((num_frames, num_states), dtype=np.int8)
    for t in range(1, num_frames):
        stay = alpha
        step = np.concatenate(([-np.inf], alpha[:-1]))
        skip = np.where(can_skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        cand = np.stack([stay, step, skip])
        back[t] = np.argmax(cand, axis=0)
        alpha = cand[back[t], np.arange(num_states)] + lp[t, ext]
    state = num_states - 1 if alpha[-1] >= alpha[-2] else num_states - 2
    if not np.isfinite(alpha[state]):
        return None
    spans = np.full((num_labels, 2), -1, dtype=np.int64)
    for t in range(num_frames - 1, -1, -1):
        if state % 2 == 1:
            k = state // 2
            spans[k, 0] = t
            if spans[k, 1] < 0:
                spans[k, 1] = t
        state -= int(back[t, state])
    return spans


def collapse_path(path: Sequence[int], blank: int) -> List[int]:
    """Labels of a frame-wise CTC path: repeats collapsed, blanks dropped."""
    out: List[int] = []
    prev = None
    for x in path:
        if x != prev and x != blank:
            out.append(int(x))
        prev = x
    return out


def greedy_labels(log_probs: np.ndarray, blank: int) -> List[int]:
    """Labels of the frame-wise best CTC path."""
    return collapse_path(np.asarray(log_probs).argmax(-1).tolist(), blank)


def ctc_line_words(
    log_probs: np.ndarray,
    tokenizer,
    frame_shift: float,
    num_channels: int = 1,
    labels: Optional[Sequence[int]] = None,
    max_word_gap: Optional[float] = None,
) -> List["TsotLine"]:
    """The text lines a CTC head transcribes, each word with its time (no LLM involved).

    The labels (the greedy path's, or ``labels`` found by a search) are split
    into t-SOT elements (words, channel changes, line ends;
    :mod:`espnet_tagspeech.tsot`), force-aligned element by element to the
    posteriors, and each channel's words between line ends become a line.  A
    word spans its first to its last frame.  An SOT-ordered head is the case
    ``num_channels=1``: its lines follow each other and never overlap.

    Args:
        log_probs: ``(T, V + 1)`` CTC log posteriors (blank last).
        tokenizer: The tokenizer of the CTC labels (``encode``/``decode``).
        frame_shift: Seconds per CTC frame.
        num_channels: Virtual channels of a time-ordered (t-SOT) head.
        labels: The decoded label ids (default: the greedy path's).
        max_word_gap: Split a line where two of its words are further apart than
            this many seconds (``None``: never).

    Returns:
        The lines sorted by start time.
    """
    from espnet_tagspeech.tsot import deserialize_tsot, element_labels, split_at_gaps, split_elements

    blank = log_probs.shape[1] - 1
    if labels is None:
        labels = greedy_labels(log_probs, blank)
    elements = split_elements(tokenizer.decode(list(labels)))
    labels, owner = element_labels(elements, tokenizer)
    if any(x >= blank for x in labels):
        raise ValueError(f"tokenizer ids exceed the CTC head's {blank} labels")
    spans = ctc_viterbi(log_probs, labels, blank) if labels else np.zeros((0, 2), dtype=np.int64)
    if spans is None:  # cannot happen for labels read off the same posteriors; be safe
        logger.warning("CTC lines: %d labels do not fit %d frames", len(labels), len(log_probs))
        return []
    owner_arr = np.asarray(owner, dtype=np.int64)
    times = []
    for k in range(len(elements)):
        mine = spans[owner_arr == k]
        if len(mine) == 0:  # an element the tokenizer encodes to nothing
            times.append((0.0, 0.0))
        else:
            times.append((mine[0, 0] * frame_shift, (mine[-1, 1] + 1) * frame_shift))
    lines = deserialize_tsot(elements, times, num_channels)
    if max_word_gap is not None:
        lines = split_at_gaps(lines, max_word_gap)
    return lines


def ctc_lines(
    log_probs: np.ndarray,
    tokenizer,
    frame_shift: float,
    num_channels: int = 1,
    start_pad: float = 0.0,
    end_pad: float = 0.0,
    recording: str = "cut",
    labels: Optional[Sequence[int]] = None,
    max_word_gap: Optional[float] = None,
) -> List[Turn]:
    """:func:`ctc_line_words` as turns (speaker ``ch<channel>``), widened by the pads.

    A line starts ``start_pad`` before its first word's first frame and ends
    ``end_pad`` after its last word's last frame (CTC fires inside a word), within
    the audio.
    """
    from espnet_tagspeech.tsot import lines_to_turns

    lines = ctc_line_words(log_probs, tokenizer, frame_shift, num_channels, labels, max_word_gap)
    return lines_to_turns(lines, recording, start_pad, end_pad, len(log_probs) * frame_shift)
