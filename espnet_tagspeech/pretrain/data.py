"""Pre-training data: cuts with CTC targets and speaker spans, and their batches."""

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class PretrainCut:
    """One cut of the pre-training data.

    Attributes:
        key: The cut's id.
        wav: 16 kHz mono samples.
        ctc_ids: CTC labels of the cut (SOT or t-SOT order).
        spans: ``(speaker index, start, end)`` in cut time; empty without an RTTM.
    """

    key: str
    wav: np.ndarray
    ctc_ids: List[int]
    spans: List[Tuple[int, float, float]] = field(default_factory=list)


def read_cut2reco(data_dir: Path) -> Dict[str, Tuple[str, float, float]]:
    """``cut2reco`` of a cuts dir: ``{cut: (recording, start, end)}``.

    Raises:
        FileNotFoundError: no ``cut2reco``.
        DataFormatError: a line that is not ``<cut> <reco> <start> <end>`` (file and line).
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import read_scp

    c2r = Path(data_dir) / "cut2reco"
    if not c2r.is_file():
        raise FileNotFoundError(f"{c2r}: missing (pre-training maps cuts to recordings)")
    out = {}
    for lineno, (key, value) in enumerate(read_scp(c2r).items(), 1):
        parts = value.split()
        try:
            out[key] = (parts[0], float(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            raise DataFormatError(str(c2r), lineno, f"key {key!r}: expected '<reco> <start> <end>'")
    return out


def cut_spans(data_dir: Path, rttm: str, speakers: Dict[str, int]) -> Dict[str, List[Tuple[int, float, float]]]:
    """Speaker spans of every cut from the recordings' RTTM and ``cut2reco``."""
    from espnet_tagspeech.data.formats import read_rttm

    by_reco: Dict[str, list] = {}
    for t in read_rttm(rttm):
        by_reco.setdefault(t.recording, []).append(t)
    out = {}
    for key, (reco, start, end) in read_cut2reco(data_dir).items():
        spans = []
        for t in by_reco.get(reco, []):
            s, e = max(t.start, start), min(t.end, end)
            if e > s and t.speaker in speakers:
                spans.append((speakers[t.speaker], s - start, e - start))
        out[key] = spans
    return out


def timed_turns(rttm: str, ctm: str) -> Dict[str, list]:
    """Each recording's RTTM turns with their words from a CTM (channel = speaker).

    A word belongs to the turn of its speaker that holds its midpoint.

    Raises:
        DataFormatError: a CTM word inside no RTTM turn of its speaker (file and line).
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_ctm, read_rttm

    turns: Dict[Tuple[str, str], list] = {}
    for t in read_rttm(rttm):
        turns.setdefault((t.recording, t.speaker), []).append([t, []])
    for lineno, (reco, spk, w) in enumerate(read_ctm(ctm), 1):
        mid = 0.5 * (w.start + w.end)
        home = [x for x in turns.get((reco, spk), []) if x[0].start - 1e-3 <= mid <= x[0].end + 1e-3]
        if not home:
            raise DataFormatError(ctm, lineno, f"word {w.text!r} of {spk} at {w.start:.2f} s in "
                                               f"{reco} lies in no turn of {spk} in {rttm}")
        home[0][1].append(w)
    out: Dict[str, List] = {}
    for (reco, _), items in turns.items():
        for t, words in items:
            out.setdefault(reco, []).append(replace(t, words=tuple(sorted(words, key=lambda x: x.start))))
    return out


def cut_tsot_elements(data_dir: Path, rttm: str, ctm: str, channels: int) -> Dict[str, List[str]]:
    """t-SOT elements of every cut (``cut2reco``) from the recordings' RTTM and CTM.

    A cut keeps the words whose midpoint lies inside it, in cut time.
    """
    from espnet_tagspeech.data.turn import Turn, Word
    from espnet_tagspeech.tsot import serialize_tsot

    by_reco = timed_turns(rttm, ctm)
    out = {}
    for key, (reco, start, end) in read_cut2reco(data_dir).items():
        cut = []
        for t in by_reco.get(reco, []):
            words = tuple(
                Word(w.text, max(0.0, w.start - start), max(0.0, w.end - start))
                for w in t.words if start <= 0.5 * (w.start + w.end) < end
            )
            if words:
                cut.append(Turn(key, t.speaker, words[0].start, words[-1].end, words, t.gender))
        out[key] = serialize_tsot(sorted(cut, key=lambda t: (t.start, t.end)), channels)
    return out


def load_cuts(
    data_dir: str,
    tokenizer,
    sample_rate: int,
    max_sec: float,
    rttm: Optional[str] = None,
    speakers: Optional[Dict[str, int]] = None,
    tsot: Optional[Dict[str, List[str]]] = None,
) -> List[PretrainCut]:
    """The cuts of a data dir not longer than ``max_sec``, with CTC ids and speaker spans.

    The CTC ids are the SOT transcript of the cut's target, or, given ``tsot``
    (t-SOT elements per cut key), the labels of those elements.

    Raises:
        ValueError: no usable cut.
        KeyError: a cut without t-SOT targets (no ``cut2reco`` entry).
    """
    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import load_audio, read_text, read_wav_scp
    from espnet_tagspeech.serialization import line_to_target
    from espnet_tagspeech.tasks.preprocessor import check_waveform, sot_transcript
    from espnet_tagspeech.tsot import element_labels

    d = Path(data_dir)
    wavs, texts = read_wav_scp(d / "wav.scp"), read_text(d / "text")
    spans = cut_spans(d, rttm, speakers or {}) if rttm else {}
    out = []
    for key, entry in tqdm(wavs.items(), desc=f"load {d.name}", unit="cut", mininterval=2):
        if key not in texts:
            continue
        wav, rate = load_audio(entry, key=key)
        wav = check_waveform(wav, key, str(d / "wav.scp"), rate, sample_rate)
        if len(wav) > max_sec * sample_rate:
            continue
        if tsot is None:
            ids = tokenizer.encode(sot_transcript(line_to_target(texts[key])))
        elif key in tsot:
            ids = element_labels(tsot[key], tokenizer)[0]
        else:
            raise KeyError(f"{d / 'cut2reco'}: no entry for cut {key!r} (t-SOT targets)")
        out.append(PretrainCut(key, wav, ids, spans.get(key, [])))
    if not out:
        raise ValueError(f"{data_dir}: no usable cuts (wav.scp and text keys, <= {max_sec} s)")
    logging.info("%s: %d cuts", data_dir, len(out))
    return out


def make_batch(items: Sequence[PretrainCut], device):
    """Padded ``(speech, speech_lengths, ctc_ids, ctc_lengths)``; label padding is -1."""
    import torch

    lens = torch.tensor([len(c.wav) for c in items])
    speech = torch.zeros(len(items), int(lens.max()))
    tlen = torch.tensor([len(c.ctc_ids) for c in items])
    text = torch.full((len(items), max(1, int(tlen.max()))), -1, dtype=torch.long)
    for i, c in enumerate(items):
        speech[i, : len(c.wav)] = torch.from_numpy(c.wav)
        text[i, : len(c.ctc_ids)] = torch.tensor(c.ctc_ids, dtype=torch.long)
    return speech.to(device), lens.to(device), text.to(device), tlen.to(device)


def frame_labels(items: Sequence[PretrainCut], num_frames: int, frame_shift: float, num_speakers: int):
    """``(B, T, S)`` 0/1 activity of each speaker at each frame centre."""
    import torch

    lab = torch.zeros(len(items), num_frames, num_speakers)
    centres = (torch.arange(num_frames) + 0.5) * frame_shift
    for i, c in enumerate(items):
        for spk, s, e in c.spans:
            lab[i, (centres >= s) & (centres < e), spk] = 1.0
    return lab


def duration_batches(durations: Sequence[float], max_padded_sec: float, rng) -> List[np.ndarray]:
    """One epoch of batches of similar-length cuts, in random order.

    The cuts are sorted by duration (with a +-10 % random jitter, so that the
    batches differ from epoch to epoch) and cut into runs whose padded length,
    cut count x longest cut, stays within ``max_padded_sec``; a cut longer than
    that is a batch of its own.  Against random batches of a fixed count, far
    less of every update is padding.  (ESPnet's length samplers make the same
    batches every epoch from shape files; the jitter is why this one is ours.)

    Args:
        durations: Seconds of every cut.
        max_padded_sec: Budget of one batch.
        rng: ``numpy.random.Generator``.

    Returns:
        Index arrays into ``durations``; every index appears exactly once.
    """
    if max_padded_sec <= 0:
        raise ValueError(f"batch_sec must be > 0, got {max_padded_sec}")
    dur = np.asarray(durations, dtype=float)
    order = np.argsort(dur * rng.uniform(0.9, 1.1, len(dur)), kind="stable")
    batches, cur, longest = [], [], 0.0
    for i in order:
        if cur and max(longest, dur[i]) * (len(cur) + 1) > max_padded_sec:
            batches.append(np.asarray(cur))
            cur, longest = [], 0.0
        cur.append(int(i))
        longest = max(longest, float(dur[i]))
    if cur:
        batches.append(np.asarray(cur))
    return [batches[j] for j in rng.permutation(len(batches))]


class CutBatchSampler:
    """Endless index batches with a state that a checkpoint can save and restore.

    ``batch_sec`` set: duration batches (:func:`duration_batches`) epoch after
    epoch; otherwise ``batch_size`` random cuts per update.

    Args:
        durations: Seconds of every training cut.
        batch_size: Cuts per batch without ``batch_sec``.
        batch_sec: Padded seconds per duration batch.
        rng: ``numpy.random.Generator`` (shared by the parts of a run).
    """

    def __init__(self, durations: Sequence[float], batch_size: int, batch_sec: Optional[float], rng) -> None:
        self.durations = list(durations)
        self.batch_size = min(int(batch_size), len(self.durations))
        self.batch_sec = batch_sec
        self.rng = rng
        self.pending: List[np.ndarray] = []

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        if self.batch_sec is None:
            return self.rng.choice(len(self.durations), size=self.batch_size, replace=False)
        if not self.pending:
            self.pending = duration_batches(self.durations, float(self.batch_sec), self.rng)
        return self.pending.pop(0)

    def state_dict(self) -> Dict[str, Any]:
        """The random generator's state and the rest of the current epoch."""
        return {"rng": self.rng.bit_generator.state, "pending": [b.tolist() for b in self.pending]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue exactly where :meth:`state_dict` was taken."""
        self.rng.bit_generator.state = state["rng"]
        self.pending = [np.asarray(b, dtype=np.int64) for b in state["pending"]]
