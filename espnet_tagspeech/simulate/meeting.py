"""One synthetic meeting: who talks when (turn-taking) and its audio.

A meeting is built in two steps so that every (voice, word) pair can be
synthesized before any audio is mixed:

1. :func:`plan_meeting` draws the speakers, the meeting length and an ordered
   list of main utterances (sentences of the grammar, each given to a speaker
   other than the previous one), more than the meeting will need.
2. :func:`layout_meeting` places the utterances in time from the real word
   durations: each turn follows the previous one after a pause or overlaps its
   end; listeners drop backchannels ("yeah", "mhm") into longer turns.  An
   integral controller keeps the overlapped share of speech time near
   ``overlap_ratio``: a turn overlaps its predecessor when the meeting so far
   has less overlap than the target.  No speaker ever overlaps themself.
   :func:`render_meeting` then mixes the word clips at their sample offsets,
   optionally with a synthetic room response and additive noise.

Everything random comes from one ``numpy`` generator per meeting, seeded by
(seed, split, meeting index), so a meeting does not depend on the number of
worker processes or on which meetings were generated before it.
"""

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.simulate.grammar import SPLITS, Grammar
from espnet_tagspeech.simulate.voices import SAMPLE_RATE, Voice, WordBank

_SPLIT_CODE = {s: i for i, s in enumerate(SPLITS)}


@dataclass(frozen=True)
class MeetingConfig:
    """Knobs of the meeting simulator (times in seconds).

    Args:
        min_speakers: Fewest speakers per meeting (>= 1).
        max_speakers: Most speakers per meeting (<= size of the voice pool).
        min_duration: Shortest meeting.
        max_duration: Longest meeting.
        overlap_ratio: Target share of speech time with two or more speakers.
        overlap_prob: Chance that a turn overlaps the previous one while the
            meeting has less overlap than the target (else it follows a pause).
        backchannel_prob: Chance that a listener backchannels into a turn of
            at least ``2`` s (only while overlap is wanted).
        max_sentences: Most sentences in one main turn.
        word_gap: Range of the silence between two words of a turn.
        pause: Range of the pause between turns that do not overlap.
        max_overlap: Longest overlap of one turn with the previous.
        noise_snr: Additive noise at this SNR in dB, or ``None`` for clean audio.
        reverb: Convolve each speaker with a synthetic room impulse response.
        vocab_scale: Fraction of each grammar word class to use.
        disjoint_voices: Disjoint speaker pools per split (see ``voice_pool``).
    """

    min_speakers: int = 1
    max_speakers: int = 4
    min_duration: float = 30.0
    max_duration: float = 120.0
    overlap_ratio: float = 0.2
    overlap_prob: float = 0.5
    backchannel_prob: float = 0.5
    max_sentences: int = 2
    word_gap: Tuple[float, float] = (0.03, 0.09)
    pause: Tuple[float, float] = (0.25, 1.0)
    max_overlap: float = 3.0
    noise_snr: Optional[float] = None
    reverb: bool = False
    vocab_scale: float = 1.0
    disjoint_voices: bool = False

    def check(self, pool_size: int) -> None:
        """Raise ``ValueError`` naming the first inconsistent option."""
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ValueError(f"need 1 <= min_speakers <= max_speakers, got "
                             f"{self.min_speakers}, {self.max_speakers}")  # fmt: skip
        if self.max_speakers > pool_size:
            raise ValueError(f"max_speakers {self.max_speakers} exceeds the voice pool ({pool_size})")
        if not 0 < self.min_duration <= self.max_duration:
            raise ValueError(f"need 0 < min_duration <= max_duration, got "
                             f"{self.min_duration}, {self.max_duration}")  # fmt: skip
        if not 0.0 <= self.overlap_ratio < 0.6:
            raise ValueError(f"overlap_ratio must be in [0, 0.6), got {self.overlap_ratio}")
        for name in ("overlap_prob", "backchannel_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.word_gap[0] <= self.word_gap[1]:
            raise ValueError(f"bad word_gap range {self.word_gap}")
        if not 0 < self.pause[0] <= self.pause[1]:
            raise ValueError(f"bad pause range {self.pause}")


@dataclass
class MeetingPlan:
    """What a meeting will say, before timing (step 1).

    Args:
        recording: Recording id.
        index: Meeting index within its split.
        voices: The speakers.
        duration: Target length in seconds.
        utterances: ``(speaker index, words)`` main turns in order.
        backchannels: Words of the backchannels every listener may use.
    """

    recording: str
    index: int
    voices: List[Voice]
    duration: float
    utterances: List[Tuple[int, List[str]]]
    backchannels: List[List[str]] = field(default_factory=list)

    def words_of(self) -> Dict[Voice, List[str]]:
        """Every word each voice may have to say (for synthesis ahead of time)."""
        need: Dict[Voice, set] = {v: set() for v in self.voices}
        for spk, words in self.utterances:
            need[self.voices[spk]].update(words)
        for v in self.voices:
            for phrase in self.backchannels:
                need[v].update(phrase)
        return {v: sorted(w) for v, w in need.items()}


def meeting_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The random generator of one meeting (``stream`` 0 plans, 1 lays out, 2 renders)."""
    return np.random.default_rng([seed, _SPLIT_CODE[split], index, stream])


def plan_meeting(
    seed: int, split: str, index: int, recording: str, config: MeetingConfig,
    grammar: Grammar, pool: Sequence[Voice],
) -> MeetingPlan:  # fmt: skip
    """Step 1: speakers, target length and more utterances than needed."""
    rng = meeting_rng(seed, split, index, 0)
    n_spk = int(rng.integers(config.min_speakers, config.max_speakers + 1))
    order = rng.permutation(len(pool))[:n_spk]
    voices = [pool[i] for i in sorted(order)]
    duration = float(rng.uniform(config.min_duration, config.max_duration))
    # speakers are not equally talkative; every speaker talks early on
    weights = rng.dirichlet(np.full(n_spk, 2.0)) + 0.05
    first = [int(i) for i in rng.permutation(n_spk)]
    utterances: List[Tuple[int, List[str]]] = []
    est, prev = 0.0, -1
    while est < duration * 1.6 + 10.0:
        if len(utterances) < n_spk:
            spk = first[len(utterances)]
        elif n_spk == 1:
            spk = 0
        else:
            w = weights.copy()
            w[prev] = 0.0
            spk = int(rng.choice(n_spk, p=w / w.sum()))
        words: List[str] = []
        for _ in range(int(rng.integers(1, config.max_sentences + 1))):
            words += grammar.sample(rng, split)
        utterances.append((spk, words))
        est += sum(0.07 * len(w) + 0.12 for w in words) + 0.6
        prev = spk
    n_bc = 4 if n_spk > 1 and config.overlap_ratio > 0 else 0
    backchannels = [grammar.sample_backchannel(rng) for _ in range(n_bc)]
    return MeetingPlan(recording, index, voices, duration, utterances, backchannels)


def overlap_stats(spans: List[Tuple[float, float]]) -> Tuple[float, float]:
    """(speech time, overlapped time) of a set of spans."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    speech = overlap = 0.0
    active, last = 0, 0.0
    for t, d in events:
        if active >= 1:
            speech += t - last
        if active >= 2:
            overlap += t - last
        active += d
        last = t
    return speech, overlap


def _place_words(
    words: Sequence[str], voice: Voice, start: int, bank: WordBank,
    rng: np.random.Generator, gap: Tuple[float, float],
) -> List[Tuple[str, int, int]]:  # fmt: skip
    """Sample offsets ``(word, first, end)`` of a turn starting at sample ``start``."""
    out, pos = [], start
    for i, w in enumerate(words):
        if i:
            pos += int(round(rng.uniform(*gap) * SAMPLE_RATE))
        n = len(bank.clip(voice, w))
        out.append((w, pos, pos + n))
        pos += n
    return out


@dataclass
class MeetingLayout:
    """A timed meeting (step 2): turns with word offsets in samples.

    Args:
        plan: The plan it came from.
        num_samples: Length of the recording.
        turns: ``(speaker index, [(word, first sample, end sample)])`` per turn.
    """

    plan: MeetingPlan
    num_samples: int
    turns: List[Tuple[int, List[Tuple[str, int, int]]]]

    def to_turns(self) -> List[Turn]:
        """The ground truth as :class:`Turn` records (times in seconds)."""
        out = []
        for spk, words in self.turns:
            v = self.plan.voices[spk]
            ws = tuple(Word(w, a / SAMPLE_RATE, b / SAMPLE_RATE) for w, a, b in words)
            out.append(Turn(self.plan.recording, v.name, ws[0].start, ws[-1].end, ws, v.gender))
        return sorted(out, key=lambda t: (t.start, t.end, t.speaker))


def layout_meeting(
    plan: MeetingPlan, config: MeetingConfig, bank: WordBank, seed: int, split: str
) -> MeetingLayout:
    """Step 2: place the planned utterances in time."""
    rng = meeting_rng(seed, split, plan.index, 1)
    sr = SAMPLE_RATE
    n_spk = len(plan.voices)
    busy = [0] * n_spk  # sample where each speaker last stopped
    turns: List[Tuple[int, List[Tuple[str, int, int]]]] = []
    spans: List[Tuple[float, float]] = []
    limit = int(plan.duration * sr)
    prev: Optional[Tuple[int, int, int]] = None  # (speaker, first, end) of last main turn
    for spk, words in plan.utterances:
        placed = _place_words(words, plan.voices[spk], 0, bank, rng, config.word_gap)
        dur = placed[-1][2] / sr
        if prev is None:
            start = int(rng.uniform(0.2, 0.8) * sr)
        else:
            speech, overlap = overlap_stats(spans)
            # overlap that would bring the ratio to target once this turn is in
            need = (config.overlap_ratio * (speech + dur) - overlap) / (1 + config.overlap_ratio)
            if n_spk > 1 and need > 0.0 and rng.random() < config.overlap_prob:
                prev_len = (prev[2] - prev[1]) / sr
                cap = min(0.6 * prev_len, 0.6 * dur, config.max_overlap)
                ov = min(max(need * rng.uniform(0.8, 1.2), 0.3), cap)
                start = prev[2] - int(max(ov, 0.0) * sr)
            else:
                start = prev[2] + int(rng.uniform(*config.pause) * sr)
        start = max(start, busy[spk] + int(0.2 * sr))
        placed = [(w, a + start, b + start) for w, a, b in placed]
        end = placed[-1][2]
        short = bool(turns) and max(b[-1][2] for _, b in turns) < config.min_duration * sr
        if turns and end > limit and not (short and end <= (config.max_duration - 1.0) * sr):
            break
        turns.append((spk, placed))
        spans.append((start / sr, end / sr))
        busy[spk] = end
        prev = (spk, start, end)
        # a listener may backchannel into a long enough turn
        speech, overlap = overlap_stats(spans)
        if (plan.backchannels and n_spk > 1 and (end - start) > 2 * sr
                and overlap < config.overlap_ratio * speech + 0.5
                and rng.random() < config.backchannel_prob):  # fmt: skip
            listeners = [i for i in range(n_spk) if i != spk and busy[i] + 0.2 * sr < start]
            if listeners:
                who = listeners[int(rng.integers(len(listeners)))]
                phrase = plan.backchannels[int(rng.integers(len(plan.backchannels)))]
                bc_start = int(rng.uniform(start + 0.5 * sr, end - 1.2 * sr))
                bc = _place_words(phrase, plan.voices[who], bc_start, bank, rng, config.word_gap)
                if bc[-1][2] < end:
                    turns.append((who, bc))
                    spans.append((bc[0][1] / sr, bc[-1][2] / sr))
                    busy[who] = bc[-1][2]
    last = max(w[-1][2] for _, w in turns)
    num_samples = last + int(rng.uniform(0.3, 1.0) * sr)
    return MeetingLayout(plan, num_samples, turns)


def _room_response(rng: np.random.Generator) -> np.ndarray:
    """A synthetic impulse response: direct path plus exponentially decaying noise."""
    rt60 = rng.uniform(0.2, 0.5)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0  # first reflections arrive after 2 ms
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail**2))


def _convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)
    return y[: len(x)]


def render_meeting(layout: MeetingLayout, config: MeetingConfig, bank: WordBank,
                   seed: int, split: str) -> np.ndarray:  # fmt: skip
    """Mix the meeting: 16 kHz mono int16 samples."""
    rng = meeting_rng(seed, split, layout.plan.index, 2)
    n = layout.num_samples
    voices = layout.plan.voices
    # each speaker at -20 dBFS (+-3 dB), measured on its median word
    gains = []
    for v in voices:
        rms = [np.sqrt(np.mean(bank.clip(v, w).astype(np.float64) ** 2))
               for w in sorted({w for s, ws in layout.turns if voices[s] == v for w, _, _ in ws})]  # fmt: skip
        level = float(np.median(rms)) / 32768.0 if rms else 0.1
        gains.append(10 ** ((-20.0 + rng.uniform(-3.0, 3.0)) / 20) / max(level, 1e-6) / 32768.0)
    tracks = np.zeros((len(voices), n))
    for spk, words in layout.turns:
        for w, a, b in words:
            tracks[spk, a:b] += bank.clip(voices[spk], w).astype(np.float64) * gains[spk]
    if config.reverb:
        for i in range(len(voices)):
            tracks[i] = _convolve(tracks[i], _room_response(rng))
    mix = tracks.sum(axis=0)
    if config.noise_snr is not None:
        active = np.abs(mix) > 1e-4
        power = float(np.mean(mix[active] ** 2)) if active.any() else 1e-4
        noise = rng.standard_normal(n)
        noise = np.convolve(noise, [0.5, 0.3, 0.2], mode="same")  # mildly low-passed
        noise *= math.sqrt(power / 10 ** (config.noise_snr / 10) / np.mean(noise**2))
        mix = mix + noise
    peak = float(np.abs(mix).max()) if n else 0.0
    if peak > 0.95:
        mix *= 0.95 / peak
    return np.round(mix * 32767).astype(np.int16)
