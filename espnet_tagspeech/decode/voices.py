"""Speaker linking: one label per person across the cuts of a recording.

A TagSpeech model decodes one cut at a time and numbers speakers ``1, 2, ...``
within that cut; scoring a whole recording needs the same person to carry one
label in every cut (the chunk-and-cluster step the paper leaves open).  Each
local speaker of each cut gets an embedding from the audio where it speaks
alone (falling back to all its speech), and the local speakers of a recording
are clustered agglomeratively (average linkage, cosine distance) with a
cannot-link constraint: two speakers of one cut are never merged.  Clustering
stops at ``threshold`` or, when given, at ``num_speakers`` clusters.

:func:`link_lines` goes one step further and ignores the model's speaker ids:
every transcribed line is an item of its own (lines overlapping in time may not
merge), for models that place lines well but attribute them poorly.

The clustering itself (:mod:`espnet_tagspeech.decode.clustering`) runs within time
windows first on long recordings, and constraints between lines are found by a
sorted sweep, so linking costs time in proportion to the recording's length.

Embeddings come from a callable ``embed(audio, sample_rate) -> np.ndarray``;
:func:`fbank_embedding` (log-mel statistics) needs no model,
:class:`SpeakerStreamEmbedder` pools the TagSpeech model's own speaker stream,
:class:`ResemblyzerEmbedder` is a pre-trained GE2E encoder (:func:`make_embedder` picks one).
"""

import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.turn import Turn, merge_intervals
from espnet_tagspeech.decode.clustering import cluster_items, cluster_with_constraints, pairs_from_groups, unit_rows

logger = logging.getLogger(__name__)
Embedder = Callable[[np.ndarray, int], np.ndarray]
if TYPE_CHECKING:
    from espnet_tagspeech.tsot import TsotLine
Span = Tuple[float, float]


def fbank_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean and standard deviation of 40 log-mel filterbanks (a model-free voice print)."""
    import torch
    import torchaudio

    wav = torch.as_tensor(audio, dtype=torch.float32).reshape(1, -1)
    min_len = int(0.05 * sample_rate)
    if wav.shape[1] < min_len:
        wav = torch.nn.functional.pad(wav, (0, min_len - wav.shape[1]))
    feats = torchaudio.compliance.kaldi.fbank(
        wav * 32768, num_mel_bins=40, sample_frequency=sample_rate, dither=0.0
    )
    return torch.cat([feats.mean(0), feats.std(0, unbiased=False)]).numpy()


class SpeakerStreamEmbedder:
    """Voice prints from a TagSpeech model's speaker stream (ECAPA frames, mean and std).

    Args:
        train_config: The model's ``config.yaml``.
        model_file: Its weights (``.pth``).
        device: Torch device.
    """

    def __init__(self, train_config: str, model_file: Optional[str] = None, device: str = "cpu") -> None:
        from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

        model, _ = TagSpeechTask.build_model_from_file(train_config, model_file, device)
        self.encoder = model.speaker_encoder.eval()
        self.sample_rate = model.sample_rate
        self.device = device

    @classmethod
    def from_model(cls, model, device: str = "cpu") -> "SpeakerStreamEmbedder":
        """Voice prints from an already built model's speaker stream (no second copy)."""
        self = cls.__new__(cls)
        self.encoder = model.speaker_encoder.eval()
        self.sample_rate = model.sample_rate
        self.device = device
        return self

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``(2 C,)`` mean and standard deviation of the stream's frames over ``audio``."""
        import torch

        if sample_rate != self.sample_rate:
            raise ValueError(f"speaker-stream linking: audio at {sample_rate} Hz, model expects {self.sample_rate}")
        wav = torch.as_tensor(audio, dtype=torch.float32).reshape(1, -1)
        min_len = int(0.1 * sample_rate)
        if wav.shape[1] < min_len:
            wav = torch.nn.functional.pad(wav, (0, min_len - wav.shape[1]))
        with torch.no_grad():
            feats, _ = self.encoder(wav.to(self.device), torch.tensor([wav.shape[1]], device=self.device))
        f = feats[0].double().cpu()
        return torch.cat([f.mean(0), f.std(0, unbiased=False)]).numpy()


class ResemblyzerEmbedder:
    """Voice prints from the GE2E speaker encoder that the ``resemblyzer`` wheel ships.

    A model trained on thousands of real speakers, usable offline: the linking
    embeddings of ``link: resemblyzer`` (the TagSpeech model itself still reads
    its own speaker stream).  Audio is brought to resemblyzer's loudness
    (louder only) and 16 kHz; the print is its utterance embedding (unit norm).

    Args:
        device: Torch device.
    """

    def __init__(self, device: str = "cpu") -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as e:  # installed without its dependencies: requirements-nodeps.txt
            raise ValueError(f"link 'resemblyzer' needs the resemblyzer package: pip install --no-deps "
                             f"resemblyzer webrtcvad-wheels, or make install ({e})") from None
        from resemblyzer.hparams import audio_norm_target_dBFS, sampling_rate

        self.encoder = VoiceEncoder(device, verbose=False)
        self.sample_rate, self.target_dbfs = int(sampling_rate), float(audio_norm_target_dBFS)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``(256,)`` GE2E embedding of ``audio``."""
        wav = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate:
            import torch
            import torchaudio

            wav = torchaudio.functional.resample(torch.from_numpy(wav), sample_rate, self.sample_rate).numpy()
        rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) if len(wav) else 0.0
        if rms > 0:
            gain = 10 ** ((self.target_dbfs - 20 * np.log10(rms)) / 20)
            wav = wav * max(gain, 1.0)
        min_len = int(0.1 * self.sample_rate)
        if len(wav) < min_len:
            wav = np.pad(wav, (0, min_len - len(wav)))
        return self._utterance(wav)

    def _utterance(self, wav: np.ndarray, rate: float = 1.3, min_coverage: float = 0.75,
                   batch: int = 64) -> np.ndarray:
        """resemblyzer's utterance embedding (the unit mean of its 1.6 s partials' embeddings,
        ``rate`` partials a second), the partials run ``batch`` at a time: a speaker's whole
        lone speech in a long meeting (minutes) is not one batch of hundreds of partials."""
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), rate, min_coverage)
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
        mel = wav_to_mel_spectrogram(wav)
        total = np.zeros(0)
        with torch.no_grad():
            for b in range(0, len(mel_slices), batch):
                mels = torch.from_numpy(np.stack([mel[s] for s in mel_slices[b: b + batch]]))
                part = self.encoder(mels.to(self.encoder.device)).cpu().numpy().astype(np.float64).sum(0)
                total = part if not total.size else total + part
        return total / max(float(np.linalg.norm(total)), 1e-12)


def make_embedder(link: str, model=None, train_config: Optional[str] = None, model_file: Optional[str] = None,
                  device: str = "cpu") -> Embedder:
    """The voice-print function of a :attr:`LinkConfig.link` choice.

    Args:
        link: ``model`` (the TagSpeech speaker stream), ``fbank`` or ``resemblyzer``.
        model: An already built TagSpeech model (``model``; else ``train_config``).
        train_config: The model's ``config.yaml`` when ``model`` is not given.
        model_file: Its weights.
        device: Torch device.
    """
    if link == "model":
        if model is not None:
            return SpeakerStreamEmbedder.from_model(model, device)
        if not train_config:
            raise ValueError("link 'model' needs the model's config (--train_config) and weights (--model_file)")
        return SpeakerStreamEmbedder(train_config, model_file, device)
    if link == "fbank":
        return fbank_embedding
    if link == "resemblyzer":
        return ResemblyzerEmbedder(device)
    raise ValueError(f"no voice prints for link {link!r}")


def _subtract(spans: Sequence[Span], others: Sequence[Span]) -> List[Span]:
    out = []
    for s, e in spans:
        pieces = [(s, e)]
        for os_, oe in others:
            nxt = []
            for a, b in pieces:
                if oe <= a or os_ >= b:
                    nxt.append((a, b))
                    continue
                if os_ > a:
                    nxt.append((a, os_))
                if oe < b:
                    nxt.append((oe, b))
            pieces = nxt
        out.extend(pieces)
    return [(a, b) for a, b in out if b - a > 1e-3]


def _pairs_within_reach(spans: np.ndarray, reach: float) -> np.ndarray:
    """Candidate pairs ``(i, j)``, each once, of spans where the later one starts
    before the earlier one ends plus ``reach`` seconds (a sorted sweep: the work
    grows with the number of such pairs, not with all pairs)."""
    n = len(spans)
    order = np.argsort(spans[:, 0], kind="stable")
    starts = spans[order, 0]
    hi = np.searchsorted(starts, spans[order, 1] + reach + 1e-9, side="left")
    pos = np.arange(n)
    count = np.maximum(hi - pos - 1, 0)
    first = np.repeat(pos, count)
    second = first + 1 + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return np.stack([order[first], order[second]], axis=1)


def _touching_pairs(spans: np.ndarray) -> np.ndarray:
    """Pairs of spans sharing some time (``s_j < e_i`` and ``e_j > s_i``)."""
    pairs = _pairs_within_reach(spans, 0.0)
    a, b = spans[pairs[:, 0]], spans[pairs[:, 1]]
    return pairs[(b[:, 0] < a[:, 1]) & (b[:, 1] > a[:, 0])]


def _adjacency(n: int, pairs: np.ndarray) -> List[np.ndarray]:
    """For each of ``n`` items, the items it is paired with (ascending)."""
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.zeros((0, 2), np.int64)
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    bounds = np.searchsorted(both[:, 0], np.arange(n + 1))
    return [both[bounds[i]: bounds[i + 1], 1] for i in range(n)]


def _others_spans(spans: Sequence[Span]) -> List[List[Span]]:
    """For each span, the other spans sharing time with it (all that can cut into it)."""
    near = _adjacency(len(spans), _touching_pairs(np.asarray(spans, dtype=np.float64).reshape(-1, 2)))
    return [[spans[j] for j in near[i]] for i in range(len(spans))]


def _overlap_pairs(spans: np.ndarray, max_overlap: float, max_frac: Optional[float]) -> np.ndarray:
    """``(m, 2)`` pairs of spans that overlap too much to be one voice's.

    Two spans are kept apart when they share more than ``max_overlap`` seconds
    or, if ``max_frac`` is given, more than that fraction of the shorter one.
    """
    pairs = _pairs_within_reach(spans, max(0.0, -max_overlap))
    a, b = spans[pairs[:, 0]], spans[pairs[:, 1]]
    shared = np.minimum(a[:, 1], b[:, 1]) - np.maximum(a[:, 0], b[:, 0])
    apart = shared > max_overlap
    if max_frac is not None:
        shorter = np.minimum(a[:, 1] - a[:, 0], b[:, 1] - b[:, 0])
        apart |= (shared > 0) & (shared > max_frac * shorter)
    return pairs[apart]


def _voice_prints(
    items: Sequence[Tuple[Sequence[Span], Sequence[Span]]],
    audio: np.ndarray,
    sample_rate: int,
    embed: Embedder,
) -> np.ndarray:
    """One embedding per item ``(own spans, others' spans)``, centred when more than two.

    Each item is embedded from the audio where it speaks alone, or from all its
    spans when that leaves less than 0.3 s.  Others' spans that share no time
    with the item's own may be left out (they change nothing).
    """
    vecs = []
    for own, others in items:
        mine = merge_intervals(own)
        alone = _subtract(mine, merge_intervals(others))
        use = alone if sum(e - s for s, e in alone) >= 0.3 else mine
        pieces = [audio[int(s * sample_rate): int(e * sample_rate)] for s, e in use]
        pieces = [p for p in pieces if len(p)]
        chunk = np.concatenate(pieces) if pieces else np.zeros(int(0.1 * sample_rate), np.float32)
        vecs.append(np.asarray(embed(chunk, sample_rate), dtype=np.float64))
    emb = np.stack(vecs)
    return emb - emb.mean(0, keepdims=True) if len(items) > 2 else emb


def link_speakers(
    speaker_turns: Sequence[Turn],
    text_turns: Sequence[Turn],
    cut_of: Dict[str, str],
    audio: np.ndarray,
    sample_rate: int,
    embed: Embedder = fbank_embedding,
    threshold: float = 0.3,
    num_speakers: Optional[int] = None,
    window_sec: Optional[float] = 300.0,
    min_speaker_sec: float = 0.0,
    min_member_sec: float = 0.0,
    min_speaker_frac: float = 0.0,
) -> Tuple[List[Turn], List[Turn]]:
    """Relabel the local speakers of one recording's cuts with global labels.

    Args:
        speaker_turns: Diarization turns in recording time, labelled ``<cut>|<id>``.
        text_turns: Transcribed turns with the same labels.
        cut_of: Maps each local label to its cut id (the cannot-link groups).
        audio: The recording's samples (mono).
        sample_rate: Its sample rate.
        embed: Embedding function.
        threshold: Cosine distance at which clustering stops.
        num_speakers: Known number of speakers, if any.
        window_sec: Local speakers (by first appearance) are clustered within
            windows of this many seconds first, then the windows' clusters, so
            long recordings cost time in proportion to their length; a recording
            shorter than one window is clustered at once (``None``: always).
        min_speaker_sec: A linked speaker with less speech than this (where no
            other speaker of the same cut talks) is not kept: each of its local
            speakers joins the closest other linked speaker holding no speaker
            of its cut (a cut's speakers still stay apart); one that has no
            such speaker stays.  Off with ``num_speakers``.
        min_member_sec: Before that, a linked speaker none of whose local
            speakers has this much speech of its own (short ids gathered from
            many cuts, e.g. backchannels, whose prints are the least reliable)
            is taken apart the same way.  Off with ``num_speakers``.
        min_speaker_frac: ``min_speaker_sec`` grows to this fraction of the
            recording's speech (the local speakers' own seconds summed), so
            that the bar scales with the meeting: stray ids gather more
            seconds in a long one.  Off with ``num_speakers``.

    Returns:
        ``(speaker_turns, text_turns)`` relabelled ``spk1``, ``spk2``... (by
        first appearance in time).
    """
    by_label: Dict[str, List[Span]] = defaultdict(list)
    for t in speaker_turns:
        by_label[t.speaker].append((t.start, t.end))
    first = {lab: min(s for s, _ in spans) for lab, spans in by_label.items()}
    labels = sorted(by_label, key=lambda k: first[k])
    if not labels:
        return list(speaker_turns), list(text_turns)
    in_cut: Dict[str, List[str]] = defaultdict(list)
    for lab in by_label:
        in_cut[cut_of[lab]].append(lab)
    mates = {lab: [sp for other in in_cut[cut_of[lab]] if other != lab for sp in by_label[other]] for lab in labels}
    emb = _voice_prints([(by_label[lab], mates[lab]) for lab in labels], audio, sample_rate, embed)
    assign = cluster_with_constraints(
        emb, [cut_of[k] for k in labels], threshold, num_speakers,
        times=[first[k] for k in labels], window_sec=window_sec,
    )
    if (min_speaker_sec > 0 or min_member_sec > 0 or min_speaker_frac > 0) and num_speakers is None:
        alone = [sum(e - s for s, e in _subtract(merge_intervals(by_label[lab]), merge_intervals(mates[lab])))
                 for lab in labels]
        pairs = pairs_from_groups([cut_of[lab] for lab in labels])
        if min_member_sec > 0:
            assign = _absorb_small(assign, emb, alone, pairs, min_member_sec, largest=True)
        min_sec = max(min_speaker_sec, min_speaker_frac * sum(alone))
        if min_sec > 0:
            assign = _absorb_small(assign, emb, alone, pairs, min_sec)
    new = {lab: f"spk{c + 1}" for lab, c in zip(labels, assign)}
    logger.debug("linked %d local speakers into %d", len(labels), len(set(assign)))
    return (
        [t.with_speaker(new[t.speaker]) for t in speaker_turns],
        [t.with_speaker(new.get(t.speaker, "unk")) for t in text_turns],
    )


def _closest_allowed(
    x: np.ndarray, sums: np.ndarray, counts: np.ndarray, usable: np.ndarray, barred: np.ndarray
) -> Optional[int]:
    """The usable cluster closest to unit vector ``x`` (mean cosine distance to its
    members: ``1 - x . sum / count``) that is not ``barred``, or ``None``."""
    ok = usable.copy()
    ok[barred] = False
    if not ok.any():
        return None
    dist = np.full(len(counts), np.inf)
    dist[ok] = 1.0 - (sums[ok] @ x) / counts[ok]
    return int(np.argmin(dist))


def _renumber(label: Sequence[int]) -> List[int]:
    order: Dict[int, int] = {}
    return [order.setdefault(int(c), len(order)) for c in label]


def _absorb_small(
    assign: Sequence[int], emb: np.ndarray, alone: Sequence[float], pairs: np.ndarray, min_sec: float,
    largest: bool = False,
) -> List[int]:
    """Move each item of a speaker with under ``min_sec`` of speech of its own
    (``alone``: seconds of each item where no other item is active; ``largest``:
    of its largest item, not in all) to the closest speaker with enough that it
    may join (none of ``pairs`` in it); renumber by first appearance."""
    x = unit_rows(emb)
    label = np.asarray(assign, dtype=np.int64).copy()
    k = int(label.max()) + 1
    dur = np.zeros(k)
    for c, sec in zip(label, alone):
        dur[c] = max(dur[c], sec) if largest else dur[c] + sec
    big = dur >= min_sec
    sums, counts = np.zeros((k, x.shape[1])), np.zeros(k)
    kept = big[label]
    np.add.at(sums, label[kept], x[kept])
    np.add.at(counts, label[kept], 1.0)
    member_of = np.where(kept, label, -1)  # cluster of each item that belongs to a kept speaker
    partners = _adjacency(len(label), pairs)
    for i in np.flatnonzero(~kept):
        barred = member_of[partners[i]]
        best = _closest_allowed(x[i], sums, counts, big, barred[barred >= 0])
        if best is not None:
            label[i] = member_of[i] = best
            sums[best] += x[i]
            counts[best] += 1
    return _renumber(label)


def _attach_rest(n: int, clustered: Sequence[int], part: Sequence[int], emb: np.ndarray, pairs: np.ndarray) -> List[int]:
    """Labels of all ``n`` items given the labels ``part`` of the ``clustered`` ones:
    every other item, in order, joins the closest cluster it may join (none of
    ``pairs`` in it) or starts one; clusters numbered by first appearance."""
    x = unit_rows(emb)
    label = np.full(n, -1, np.int64)
    label[list(clustered)] = part
    sums, counts = np.zeros((n, x.shape[1])), np.zeros(n)
    np.add.at(sums, label[list(clustered)], x[list(clustered)])
    np.add.at(counts, label[list(clustered)], 1.0)
    k = int(max(part)) + 1 if len(part) else 0
    partners = _adjacency(n, pairs)
    for i in np.flatnonzero(label < 0):
        barred = label[partners[i]]
        best = _closest_allowed(x[i], sums[:k], counts[:k], np.ones(k, bool), barred[barred >= 0])
        if best is None:
            best, k = k, k + 1
        label[i] = best
        sums[best] += x[i]
        counts[best] += 1
    return _renumber(label)


def link_lines(
    text_turns: Sequence[Turn],
    audio: np.ndarray,
    sample_rate: int,
    embed: Embedder = fbank_embedding,
    threshold: float = 0.3,
    num_speakers: Optional[int] = None,
    max_overlap: float = 0.3,
    min_speaker_sec: float = 0.0,
    voice_trim: float = 0.0,
    max_overlap_frac: Optional[float] = None,
    min_line_sec: float = 0.0,
    window_sec: Optional[float] = 300.0,
) -> List[Turn]:
    """Label every transcribed line of one recording by clustering the lines' voices.

    The model's own speaker ids are ignored: each line is an item, embedded from
    the audio where no other line is active, and lines overlapping each other by
    more than ``max_overlap`` seconds never share a speaker (one voice does not
    overlap itself).  Useful when the model places lines well in time but
    attributes them poorly.

    Args:
        text_turns: The recording's transcribed lines in recording time.
        audio: The recording's samples (mono).
        sample_rate: Its sample rate.
        embed: Embedding function.
        threshold: Cosine distance at which clustering stops.
        num_speakers: Known number of speakers, if any.
        max_overlap: Overlap in seconds above which two lines must differ in speaker.
        min_speaker_sec: A speaker with less speech than this after clustering,
            counting only where none of the other lines is active, is not kept:
            each of its lines joins the closest other speaker it may join (short
            lines give noisy voice prints and become extra speakers; lines said
            inside others' turns give mixed ones and cluster together).
        voice_trim: Seconds left out at both ends of a line for its voice print
            (its edges are the least sure and meet the neighbouring turns); a
            line too short to trim keeps its whole span.
        max_overlap_frac: If given, two lines also never share a speaker when
            their overlap is more than this fraction of the shorter one (a short
            line said inside another's turn, e.g. a backchannel, is another
            voice, however short the overlap in seconds).
        min_line_sec: Lines shorter than this are left out of the clustering
            (their voice prints are the noisiest, and their cannot-links would
            keep two clusters of one voice apart); each then joins the closest
            speaker it may join, or becomes a speaker of its own.
        window_sec: Lines (by start) are clustered within windows of this many
            seconds first, then the windows' clusters, so long recordings cost
            time in proportion to their length; a recording shorter than one
            window is clustered at once (``None``: always).

    Returns:
        The lines relabelled ``spk1``, ``spk2``... by first appearance in time.
    """
    lines = sorted(text_turns, key=lambda t: (t.start, t.end))
    if not lines:
        return []
    spans = [(t.start, t.end) for t in lines]
    cores = [(s + voice_trim, e - voice_trim) if e - s >= 2 * voice_trim + 0.3 else (s, e) for s, e in spans]
    emb = _voice_prints(list(zip([[c] for c in cores], _others_spans(cores))), audio, sample_rate, embed)
    n = len(lines)
    pairs = _overlap_pairs(np.asarray(cores, dtype=np.float64), max_overlap, max_overlap_frac)
    long_lines = [i for i, (s, e) in enumerate(spans) if e - s >= min_line_sec] or list(range(n))
    local = np.full(n, -1, np.int64)
    local[long_lines] = np.arange(len(long_lines))
    sub = local[pairs]
    sub = sub[(sub >= 0).all(axis=1)]
    part = cluster_items(
        emb[long_lines], sub, threshold, num_speakers, [spans[i][0] for i in long_lines], window_sec
    ).tolist()
    if min_speaker_sec > 0 and num_speakers is None:
        others = _others_spans(spans)
        alone = [sum(e - s for s, e in _subtract([spans[i]], merge_intervals(others[i]))) for i in long_lines]
        part = _absorb_small(part, emb[long_lines], alone, sub, min_speaker_sec)
    assign = _attach_rest(n, long_lines, part, emb, pairs)
    logger.debug("clustered %d lines into %d speakers", n, len(set(assign)))
    return [t.with_speaker(f"spk{c + 1}") for t, c in zip(lines, assign)]


def split_lines_by_voice(
    lines: Sequence["TsotLine"],
    frames: np.ndarray,
    frame_shift: float,
    threshold: float,
    min_sec: float = 0.8,
    max_rounds: int = 2,
) -> List["TsotLine"]:
    """Split lines where their voice changes between two words.

    A decoder that misses a line end or a channel change writes two speakers'
    turns as one line; clustering can then give it only one speaker.  For each
    line, every point between two words is tried: the speaker-stream frames
    before and after it (within the line, where no other line is active) are
    averaged and compared by cosine distance.  The means are not centred: on
    mini dev, centring on the cut's mean frame made the two halves of one
    speaker's turn as distant as two speakers (a cut of one voice centres onto
    its own noise), while raw means kept them apart (median distance 0.035
    within a turn, 0.27 between speakers on mini dev).
    The line is split at the most distant point when that distance exceeds
    ``threshold`` and both sides hold ``min_sec`` of such frames; each part is
    tried again, ``max_rounds`` times in all.

    Args:
        lines: The cut's lines with timed words (:class:`~espnet_tagspeech.tsot.TsotLine`).
        frames: ``(T, C)`` speaker-stream frames of the cut.
        frame_shift: Seconds per frame.
        threshold: Cosine distance above which a line is split.
        min_sec: Least speech on each side of a split.
        max_rounds: How many times a line may be split again.

    Returns:
        The lines, sorted by start time.
    """
    from espnet_tagspeech.tsot import TsotLine

    frames = np.asarray(frames, dtype=np.float64)
    if not len(lines) or not len(frames):
        return list(lines)
    feats = frames
    centres = (np.arange(len(frames)) + 0.5) * frame_shift
    need = max(1, int(round(min_sec / frame_shift)))
    out = list(lines)
    for _ in range(max_rounds):
        nxt: List[TsotLine] = []
        changed = False
        for i, ln in enumerate(out):
            others = merge_intervals((o.start, o.end) for j, o in enumerate(out) if j != i)
            alone = (centres >= ln.start) & (centres < ln.end)
            for s, e in others:
                alone &= ~((centres >= s) & (centres < e))
            k = _best_voice_split(ln, feats, centres, alone, need, threshold)
            if k is None:
                nxt.append(ln)
                continue
            nxt += [TsotLine(ln.channel, ln.words[:k]), TsotLine(ln.channel, ln.words[k:])]
            changed = True
        out = sorted(nxt, key=lambda x: (x.start, x.channel))
        if not changed:
            break
    return out


def _best_voice_split(line, feats, centres, alone, need, threshold) -> Optional[int]:
    """Word index where ``line`` splits best by voice, or ``None``."""
    if len(line.words) < 2 or alone.sum() < 2 * need:
        return None
    mask = alone.astype(np.float64)
    csum = np.cumsum(feats * mask[:, None], axis=0)
    ccnt = np.cumsum(mask)
    total, count = csum[-1], ccnt[-1]
    best, best_k = threshold, None
    for k in range(1, len(line.words)):
        point = 0.5 * (line.words[k - 1].end + line.words[k].start)
        t = int(np.searchsorted(centres, point))  # frames [0, t) lie before the point
        left_n = ccnt[t - 1] if t > 0 else 0.0
        if left_n < need or count - left_n < need:
            continue
        left = csum[t - 1] / left_n
        right = (total - csum[t - 1]) / (count - left_n)
        denom = np.linalg.norm(left) * np.linalg.norm(right)
        dist = 1.0 - float(left @ right) / denom if denom > 0 else 0.0
        if dist > best:
            best, best_k = dist, k
    return best_k
