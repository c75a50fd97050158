"""Label and format conversions of the peers recipe (ESPnet SA-EEND, ESPnet SOT ASR).

Everything here is pure (no ESPnet import) so that it is unit-tested fast
(``test/egs2/test_peers1.py``); the CLIs next to this file are thin wrappers.

* **EEND labels**: a recording's RTTM turns -> a ``(frames, num_spk)`` 0/1 matrix, one
  row per frontend frame (row ``r`` = activity at ``r * frame_shift`` s, the centre of
  STFT frame ``r``), speaker columns in order of first appearance, unused columns zero.
  ESPnet's diar model folds the rows with its ``label_aggregator`` (``win_length`` rows
  every ``hop_length``) to the encoder's frame rate, so the rows stand for the "samples"
  its docs talk about, at 1/``frame_shift`` Hz instead of the audio rate (a row per 1280
  samples with 80 ms frames; ESPnet's own ``rttm`` loader is not used: it fails its
  typeguard check).
* **EEND activities -> turns**: per-frame speaker probabilities of the encoder frames
  (frame ``j`` covers the label rows the aggregator folded into it) -> threshold, median
  filter, runs of active frames -> RTTM turns.
* **SOT text**: the utterances of a cut in order of start time, ``<sc>`` wherever the
  speaker changes (Kanda et al. 2020, utterance-based first-in-first-out order); and back:
  a decoded window's ``<sc>``-separated segments -> one pseudo-speaker per segment.
* **cpWER of many pseudo-speakers**: the hypothesis speakers an optimal cpWER assignment
  can use (meeteval refuses more than 20 speakers per recording).
* **Logs and tables**: per-epoch ``[train]`` / ``[valid]`` statistics and the parameter
  count of an ESPnet train.log, the elapsed time of a project log, the rows of a
  RESULTS.md table, for the learning curves and the table.
"""

import math
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.kaldi import Segment
from espnet_tagspeech.data.turn import Turn

SC = "<sc>"


# ----------------------------------------------------------------------------- EEND labels


def num_stft_frames(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT (ESPnet's default frontend) of ``num_samples`` samples.

    Args:
        num_samples: Length of the waveform.
        hop_length: STFT hop in samples.

    Returns:
        ``num_samples // hop_length + 1``.
    """
    if num_samples < 0 or hop_length <= 0:
        raise ValueError(f"need num_samples >= 0 and hop_length > 0, got {num_samples}, {hop_length}")
    return num_samples // hop_length + 1


def frame_labels(
    turns: Sequence[Turn],
    num_frames: int,
    num_spk: int,
    frame_shift: float,
    source: str = "<rttm>",
) -> Tuple[np.ndarray, List[str]]:
    """Speaker activity of one recording as a 0/1 matrix of frames x speakers.

    Args:
        turns: The recording's turns (any order; overlapping turns allowed).
        num_frames: Rows of the matrix.
        num_spk: Columns; speakers take them in order of their first turn's start.
        frame_shift: Seconds between rows; row ``r`` is the activity at ``r * frame_shift``.
        source: Name used in errors (the RTTM file and recording).

    Returns:
        ``(labels, speakers)``: float32 ``(num_frames, num_spk)`` matrix and the speaker
        of each used column.

    Raises:
        DataFormatError: when the recording has more than ``num_spk`` speakers.
    """
    if num_frames < 0 or num_spk <= 0 or frame_shift <= 0:
        raise ValueError(
            f"need num_frames >= 0, num_spk > 0, frame_shift > 0; got {num_frames}, {num_spk}, {frame_shift}"
        )
    ordered = sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    speakers: List[str] = []
    for t in ordered:
        if t.speaker not in speakers:
            speakers.append(t.speaker)
    if len(speakers) > num_spk:
        raise DataFormatError(
            source, None, f"{len(speakers)} speakers ({' '.join(speakers)}) but the model has num_spk={num_spk}"
        )
    labels = np.zeros((num_frames, num_spk), dtype=np.float32)
    for t in ordered:
        # rows whose time r * shift lies in [start, end)
        lo = max(0, math.ceil(t.start / frame_shift - 1e-9))
        hi = min(num_frames, math.ceil(t.end / frame_shift - 1e-9))
        if hi > lo:
            labels[lo:hi, speakers.index(t.speaker)] = 1.0
    return labels, speakers


@dataclass(frozen=True)
class FrameGrid:
    """Where the encoder frames of the diar model lie in time.

    The label aggregator (``center=True``) folds label rows ``j * hop - win // 2`` ...
    ``j * hop - win // 2 + win - 1`` into encoder frame ``j``; row ``r`` stands for the
    time around ``r * row_shift``.  Frame ``j`` is given the ``shift = hop * row_shift``
    seconds centred on its rows: ``[j * shift + offset, (j + 1) * shift + offset)`` with
    ``offset = (-(win // 2) + (win - 1) / 2) * row_shift - shift / 2`` (win = hop = 4,
    10 ms rows: frame ``j`` = ``[0.04 j - 0.025, 0.04 j + 0.015)``).

    Attributes:
        shift: Seconds per encoder frame.
        offset: Start of frame 0 in seconds (negative: it starts before the audio).
    """

    shift: float
    offset: float

    @classmethod
    def from_aggregator(cls, row_shift: float, win_length: int, hop_length: int) -> "FrameGrid":
        """The grid of an ESPnet ``LabelAggregate(win_length, hop_length, center=True)``
        applied to label rows ``row_shift`` seconds apart."""
        if row_shift <= 0 or win_length <= 0 or hop_length <= 0:
            raise ValueError(f"bad aggregator: row_shift={row_shift} win={win_length} hop={hop_length}")
        first = -(win_length // 2)  # first row of frame 0
        centre_rows = first + (win_length - 1) / 2.0  # centre of frame 0's window, in rows
        shift = hop_length * row_shift
        return cls(shift=shift, offset=centre_rows * row_shift - shift / 2.0)


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median of each column over ``width`` frames centred on each frame (edges repeat).

    Args:
        x: ``(frames, columns)`` array (0/1 decisions or probabilities).
        width: Odd window length; 1 leaves ``x`` as it is.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"median filter width must be odd and >= 1, got {width}")
    if width == 1 or len(x) == 0:
        return x.copy()
    half = width // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)], 0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0)
    return np.median(windows, axis=-1).astype(x.dtype)


def activities_to_turns(
    probs: np.ndarray,
    recording: str,
    grid: FrameGrid,
    threshold: float = 0.5,
    median: int = 1,
    duration: Optional[float] = None,
    min_dur: float = 0.0,
) -> List[Turn]:
    """Per-frame speaker probabilities of one recording -> speaker turns.

    Args:
        probs: ``(frames, num_spk)`` probabilities (sigmoid outputs of the diar model).
        recording: Recording id of the turns.
        grid: Where each frame lies in time.
        threshold: A speaker is active where its probability exceeds this.
        median: Odd median-filter width (frames) applied to the 0/1 decisions.
        duration: Clip turns to ``[0, duration]`` (default: only to ``>= 0``).
        min_dur: Drop turns shorter than this (seconds).

    Returns:
        Turns sorted by start; speaker labels ``spk1``, ``spk2``... by output column.
    """
    if probs.ndim != 2:
        raise ValueError(f"{recording}: expected (frames, speakers) activities, got shape {probs.shape}")
    active = median_filter((probs > threshold).astype(np.float32), median) > 0.5
    turns = []
    for k in range(active.shape[1]):
        col = np.concatenate([[False], active[:, k], [False]])
        edges = np.flatnonzero(col[1:] != col[:-1])
        for a, b in zip(edges[::2], edges[1::2]):  # frames a .. b-1 active
            start = max(0.0, grid.offset + a * grid.shift)
            end = grid.offset + b * grid.shift
            if duration is not None:
                end = min(end, duration)
            if end - start > max(min_dur, 1e-9):
                turns.append(Turn(recording, f"spk{k + 1}", round(start, 3), round(end, 3)))
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


# ----------------------------------------------------------------------------- SOT text


@dataclass(frozen=True)
class Utterance:
    """One reference utterance: speaker, times (seconds in its recording) and words."""

    speaker: str
    start: float
    end: float
    words: str


def sot_text(utterances: Sequence[Utterance], sc: str = SC) -> str:
    """Serialized-output-training target of a cut.

    Utterances in order of start time (then end, then speaker); consecutive utterances of
    one speaker are joined with a space, a speaker change inserts `` <sc> ``.

    Args:
        utterances: The cut's utterances (empty transcripts are skipped).
        sc: The speaker-change symbol.

    Returns:
        The target, e.g. ``"hello there <sc> no way"``.
    """
    parts: List[str] = []
    last = None
    for u in sorted(utterances, key=lambda u: (u.start, u.end, u.speaker)):
        words = " ".join(u.words.split())
        if not words:
            continue
        if sc in words.split():
            raise ValueError(f"utterance of {u.speaker} at {u.start} contains the symbol {sc}")
        if last is not None:
            parts.append(" " if u.speaker == last else f" {sc} ")
        parts.append(words)
        last = u.speaker
    return "".join(parts)


def split_sot(text: str, sc: str = SC) -> List[str]:
    """A decoded SOT hypothesis -> its segments (``<sc>``-separated, whitespace-normalised,
    empty ones dropped)."""
    return [" ".join(seg.split()) for seg in text.split(sc) if seg.split()]


def cut_utterances(
    segments: Mapping[str, Segment],
    utt2spk: Mapping[str, str],
    text: Mapping[str, str],
    cut2reco: Mapping[str, Segment],
    tolerance: float = 0.01,
    source: str = "<segments>",
) -> Dict[str, List[Utterance]]:
    """The reference utterances inside each cut, times relative to the cut.

    Cuts are utterance groups (unions of overlapping utterances), so an utterance lies
    inside exactly one cut or (for cuts dropped as too long) inside none.

    Args:
        segments: ``{utt: Segment(recording, start, end)}`` of the whole recordings.
        utt2spk: ``{utt: speaker}``.
        text: ``{utt: words}``.
        cut2reco: ``{cut: Segment(recording, start, end)}`` of the cuts.
        tolerance: Seconds an utterance may stick out of its cut (rounding of cut times).
        source: Name of the segments file in errors.

    Returns:
        ``{cut: [Utterance, ...]}`` for every cut (a cut without utterances raises).

    Raises:
        DataFormatError: an utterance without speaker or text, one that straddles a cut
            boundary, or a cut holding no utterance.
    """
    by_reco: Dict[str, List[Tuple[str, Segment]]] = {}
    for cut, seg in cut2reco.items():
        by_reco.setdefault(seg.recording, []).append((cut, seg))
    out: Dict[str, List[Utterance]] = {cut: [] for cut in cut2reco}
    for utt, seg in segments.items():
        if utt not in utt2spk:
            raise DataFormatError(source, None, f"utterance {utt!r} has no utt2spk entry")
        if utt not in text:
            raise DataFormatError(source, None, f"utterance {utt!r} has no text entry")
        for cut, c in by_reco.get(seg.recording, ()):
            if seg.end <= c.start + tolerance or seg.start >= c.end - tolerance:
                continue  # no overlap
            if seg.start < c.start - tolerance or seg.end > c.end + tolerance:
                raise DataFormatError(
                    source, None,
                    f"utterance {utt!r} ({seg.start:.3f}-{seg.end:.3f}) straddles cut {cut!r} "
                    f"({c.start:.3f}-{c.end:.3f})",
                )
            out[cut].append(
                Utterance(utt2spk[utt], max(0.0, seg.start - c.start), min(c.duration, seg.end - c.start), text[utt])
            )
    empty = [cut for cut, us in out.items() if not us]
    if empty:
        raise DataFormatError(source, None, f"{len(empty)} cut(s) hold no utterance, e.g. {empty[0]!r}")
    return out


def sot_windows_to_turns(
    hyps: Mapping[str, str], cut2reco: Mapping[str, Segment], sc: str = SC
) -> List[Turn]:
    """Decoded windows -> recording turns, one pseudo-speaker per ``<sc>`` segment.

    The ASR has no speaker identities: segment ``k`` of window ``w`` becomes speaker
    ``<w>-<k>`` (zero-padded: labels sort in SOT order), spanning the whole window (its
    only time information).

    Args:
        hyps: ``{window: decoded text}``.
        cut2reco: ``{window: Segment(recording, start, end)}``.
        sc: The speaker-change symbol.

    Raises:
        DataFormatError: a window missing from ``cut2reco`` (named by key).
    """
    turns = []
    for win, text in hyps.items():
        if win not in cut2reco:
            raise DataFormatError("cut2reco", None, f"no entry for decoded window {win!r}")
        seg = cut2reco[win]
        for k, words in enumerate(split_sot(text, sc)):
            turns.append(Turn.from_text(seg.recording, f"{win}-{k:02d}", seg.start, seg.end, words))
    return sorted(turns, key=lambda t: (t.recording, t.start, t.speaker))


# ----------------------------------------------------------------------------- train.log

_RESULTS = re.compile(r"(\d+)epoch results: (.*)$")
_STAT = re.compile(r"([A-Za-z_][\w.]*)=([^,\s]+)")
# humanfriendly timespans as ESPnet's reporter writes them: "1 hour, 2 minutes and 3.5 seconds"
_UNIT = r"(?:[\d.]+ (?:week|day|hour|minute|second|millisecond)s?)"
_TIMESPAN = re.compile(r"([A-Za-z_][\w.]*)=(" + _UNIT + r"(?:(?:, | and )" + _UNIT + r")*)")
_SECONDS = {"week": 604800.0, "day": 86400.0, "hour": 3600.0, "minute": 60.0, "second": 1.0, "millisecond": 1e-3}


def _timespan(text: str) -> float:
    return sum(float(x) * _SECONDS[u] for x, u in re.findall(r"([\d.]+) (week|day|hour|minute|millisecond|second)", text))
_PARAMS = re.compile(r"Total Number of model parameters:\s*([\d.]+)\s*([KMG]?)")


def _number(value: str) -> Optional[float]:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def parse_epoch_results(log_text: str) -> List[Dict[str, object]]:
    """The ``N epoch results`` lines of an ESPnet train.log.

    Returns:
        One dict per epoch line, in log order (a resumed run logs later epochs again:
        the last line of an epoch wins): ``{"epoch": N, "train": {...}, "valid": {...}}``
        with every numeric ``key=value`` of the phase as a float (``nan`` left out;
        timespans such as ``time=1 minute and 0.58 seconds`` in seconds).
    """
    epochs: Dict[int, Dict[str, object]] = {}
    for line in log_text.splitlines():
        m = _RESULTS.search(line)
        if not m:
            continue
        phases: Dict[str, Dict[str, float]] = {}
        for part in re.split(r"\[(\w+)\]", m.group(2))[1:]:
            if part.isidentifier() and part not in phases:
                current = phases.setdefault(part, {})
                continue
            for key, value in _TIMESPAN.findall(part):
                current[key] = _timespan(value)
            for key, value in _STAT.findall(_TIMESPAN.sub("", part)):
                x = _number(value)
                if x is not None:
                    current[key] = x
        epoch = int(m.group(1))
        epochs[epoch] = {"epoch": epoch, **{k: phases.get(k, {}) for k in ("train", "valid")}}
    return [epochs[e] for e in sorted(epochs)]


def parse_num_params(log_text: str) -> Optional[int]:
    """The ``Total Number of model parameters`` of ESPnet's model summary (last one)."""
    found = _PARAMS.findall(log_text)
    if not found:
        return None
    value, unit = found[-1]
    return int(round(float(value) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[unit]))


# ----------------------------------------------------------------------------- configs


def _fs(value: object) -> int:
    """ESPnet's ``fs`` option: an int or a string like ``"16k"``."""
    text = str(value).strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))


def label_geometry(train_config: str) -> Tuple[int, int, float]:
    """``(num_spk, fs, label row shift in s)`` of a diar_train yaml (frontend hop / fs).

    Raises:
        ValueError: naming the file and the key that is missing or wrong.
    """
    import yaml

    with open(train_config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    try:
        num_spk = int(conf["num_spk"])
        front = conf.get("frontend_conf") or {}
        fs = _fs(front.get("fs", 16000))
        hop = int(front.get("hop_length", 128))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{train_config}: needs num_spk and frontend_conf fs / hop_length ({e})") from None
    if num_spk < 1 or fs <= 0 or hop <= 0:
        raise ValueError(f"{train_config}: bad num_spk {num_spk}, fs {fs} or hop_length {hop}")
    return num_spk, fs, hop / fs


def frame_grid(train_config: str) -> FrameGrid:
    """The encoder-frame grid of a diar model trained with ``train_config`` on the labels
    of ``local/prep_eend.py`` (rows one frontend hop apart).

    Raises:
        ValueError: naming the file when its label_aggregator_conf is unusable.
    """
    import yaml

    _, _, row_shift = label_geometry(train_config)
    with open(train_config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    agg = conf.get("label_aggregator_conf") or {}
    if agg.get("center", True) is not True:
        raise ValueError(f"{train_config}: label_aggregator_conf center must be true (ESPnet fails otherwise)")
    try:
        return FrameGrid.from_aggregator(row_shift, int(agg.get("win_length", 512)), int(agg.get("hop_length", 128)))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{train_config}: label_aggregator_conf: {e}") from None


# ----------------------------------------------------------------------------- cpWER of many pseudo-speakers


def prune_hypothesis_speakers(
    ref: Sequence[Turn],
    hyp: Sequence[Turn],
    distance: Callable[[Sequence[Turn], Sequence[Turn]], int],
) -> Tuple[List[Turn], Dict[str, int]]:
    """Keep only the hypothesis speakers an optimal cpWER assignment can use.

    cpWER matches each reference speaker with at most one hypothesis speaker; every word
    of an unmatched hypothesis speaker is an insertion.  With ``n`` reference speakers,
    some optimal assignment matches each reference speaker ``r`` only among its ``n``
    best hypothesis speakers by gain ``|r| + |h| - d(r, h)`` (if ``r`` had another
    partner, one of its ``n`` best is free and swapping loses nothing).  So cpWER over the
    kept speakers plus one insertion per word of the dropped ones equals cpWER over all
    of them, while meeteval refuses recordings of more than 20 speakers (an SOT
    hypothesis with one pseudo-speaker per segment per window has more).

    Args:
        ref: Reference turns (all recordings).
        hyp: Hypothesis turns (all recordings).
        distance: Word edit distance between the concatenated words of a reference
            speaker's turns and a hypothesis speaker's turns (meeteval's, in practice).

    Returns:
        ``(kept hypothesis turns, {recording: number of words dropped})``.
    """
    def by_speaker(turns: Sequence[Turn]) -> Dict[str, Dict[str, List[Turn]]]:
        out: Dict[str, Dict[str, List[Turn]]] = {}
        for t in turns:
            out.setdefault(t.recording, {}).setdefault(t.speaker, []).append(t)
        return out

    refs, hyps = by_speaker(ref), by_speaker(hyp)
    kept: List[Turn] = []
    dropped: Dict[str, int] = {}
    for rec, hyp_spk in hyps.items():
        ref_spk = refs.get(rec, {})
        n = len(ref_spk)
        if len(hyp_spk) <= n:
            keep = set(hyp_spk)
        else:
            keep = set()
            for r_turns in ref_spk.values():
                r_len = sum(len(t.words) for t in r_turns)
                gains = []
                for h, h_turns in hyp_spk.items():
                    h_len = sum(len(t.words) for t in h_turns)
                    gains.append((r_len + h_len - distance(r_turns, h_turns), h))
                gains.sort(key=lambda g: (-g[0], g[1]))
                keep.update(h for _, h in gains[:n])
        for h, h_turns in hyp_spk.items():
            if h in keep:
                kept.extend(h_turns)
            else:
                dropped[rec] = dropped.get(rec, 0) + sum(len(t.words) for t in h_turns)
    return kept, dropped


def reference_windows_sot(ref: Sequence[Turn], cut2reco: Mapping[str, Segment], sc: str = SC) -> Dict[str, str]:
    """What a perfect SOT ASR would write for each decoding window: the reference turns
    whose midpoint lies in the window, in SOT order (``sot_text``).

    Args:
        ref: Reference turns with words (recording time).
        cut2reco: ``{window: Segment(recording, start, end)}``.
        sc: The speaker-change symbol.

    Returns:
        ``{window: SOT text}`` (empty text for windows without reference speech).
    """
    by_reco: Dict[str, List[Turn]] = {}
    for t in ref:
        by_reco.setdefault(t.recording, []).append(t)
    out = {}
    for win, seg in cut2reco.items():
        inside = [t for t in by_reco.get(seg.recording, ()) if seg.start <= (t.start + t.end) / 2 < seg.end]
        out[win] = sot_text([Utterance(t.speaker, t.start, t.end, t.text) for t in inside], sc)
    return out


# ----------------------------------------------------------------------------- our RESULTS.md and logs

_ELAPSED = re.compile(r"^# ended at .* with exit code (\d+), elapsed ([\d.]+) s", re.M)


def log_elapsed(log_text: str) -> Optional[float]:
    """Seconds of the last successful run a project log records (``# ended at ... with
    exit code 0, elapsed N s``), ``None`` when it records none."""
    runs = [float(s) for code, s in _ELAPSED.findall(log_text) if code == "0"]
    return runs[-1] if runs else None


def logged_option(log_text: str, option: str) -> Optional[str]:
    """The value of ``--<option>`` on the command line a project log starts with
    (``# python ... --config conf/x.yaml ...``), ``None`` when it has none."""
    for line in log_text.splitlines():
        if line.startswith("# "):
            words = line[2:].split()
            if f"--{option}" in words[:-1]:
                return words[words.index(f"--{option}") + 1]
        break
    return None


def parse_results_table(md_text: str, dataset: str = "test", source: str = "RESULTS.md") -> Dict[str, Dict[str, str]]:
    """Rows of the first markdown table of a RESULTS.md with ``dataset`` and ``system``
    columns, for one dataset: ``{system: {column: cell}}``.

    Raises:
        DataFormatError: naming ``source`` and the line of a row that does not fit the
            header, or when there is no such table.
    """
    lines = md_text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and "dataset" in cells and "system" in cells:
            header, rows = cells, {}
            for j in range(i + 2, len(lines)):
                if not lines[j].lstrip().startswith("|"):
                    break
                row = [c.strip() for c in lines[j].strip().strip("|").split("|")]
                if len(row) != len(header):
                    raise DataFormatError(source, j + 1, f"{len(row)} cells, the header has {len(header)}")
                rec = dict(zip(header, row))
                if rec["dataset"] == dataset:
                    rows[rec["system"]] = rec
            return rows
    raise DataFormatError(source, None, "no markdown table with 'dataset' and 'system' columns")
