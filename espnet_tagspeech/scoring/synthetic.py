"""Random reference / system diarizations for tests and benchmarks.

:func:`random_reference` draws a meeting: each speaker alternates speech and
silence with exponential durations, so speakers overlap now and then.
:func:`random_system` degrades a reference like a real diarizer would:
boundary jitter, dropped turns (miss), split and relabelled turns
(confusion), spurious turns (false alarm) and extra system speakers.
Times are rounded to milliseconds, as RTTM files usually carry them.
"""

from typing import List

import numpy as np

from espnet_tagspeech.data.turn import Turn


def random_reference(
    recording: str,
    rng: np.random.Generator,
    n_speakers: int = 4,
    duration: float = 3600.0,
    mean_turn: float = 6.0,
    mean_pause: float = 18.0,
) -> List[Turn]:
    """A random meeting of ``duration`` seconds.

    Args:
        recording: Recording id.
        rng: Random generator (fix its seed for reproducible data).
        n_speakers: Number of speakers (labelled ``spk0``, ``spk1``...).
        duration: Length in seconds.
        mean_turn: Mean turn length (s).
        mean_pause: Mean pause of one speaker between turns (s); with several
            speakers this sets how much they overlap.
    """
    turns = []
    for k in range(n_speakers):
        t = float(rng.exponential(mean_pause))
        while t < duration:
            d = float(rng.exponential(mean_turn)) + 0.2
            s, e = round(t, 3), round(min(t + d, duration), 3)
            if e > s:
                turns.append(Turn(recording, f"spk{k}", s, e))
            t += d + float(rng.exponential(mean_pause)) + 0.05
    return sorted(turns, key=lambda x: (x.start, x.speaker))


def random_system(
    ref: List[Turn],
    rng: np.random.Generator,
    jitter: float = 0.25,
    p_drop: float = 0.05,
    p_confuse: float = 0.1,
    p_false_alarm: float = 0.05,
    extra_speakers: int = 1,
) -> List[Turn]:
    """A degraded copy of ``ref`` with system speaker labels ``S0``, ``S1``...

    Args:
        ref: Reference turns of one recording.
        rng: Random generator.
        jitter: Standard deviation (s) of boundary noise.
        p_drop: Probability a turn is missed.
        p_confuse: Probability part of a turn goes to a wrong speaker.
        p_false_alarm: Spurious turns per reference turn.
        extra_speakers: System speakers with no reference counterpart.
    """
    if not ref:
        return []
    rec = ref[0].recording
    ref_spk = sorted({t.speaker for t in ref})
    perm = rng.permutation(len(ref_spk) + extra_speakers)
    label = {s: f"S{perm[i]}" for i, s in enumerate(ref_spk)}
    all_sys = [f"S{i}" for i in range(len(ref_spk) + extra_speakers)]
    end_max = max(t.end for t in ref)
    out: List[Turn] = []

    def add(spk: str, s: float, e: float) -> None:
        s, e = round(max(s, 0.0), 3), round(e, 3)
        if e - s > 0.01:
            out.append(Turn(rec, spk, s, e))

    for t in ref:
        if rng.random() < p_drop:
            continue
        s = t.start + float(rng.normal(0, jitter))
        e = t.end + float(rng.normal(0, jitter))
        if rng.random() < p_confuse and e - s > 1.0:
            cut = float(rng.uniform(s + 0.3, e - 0.3))
            add(label[t.speaker], s, cut)
            add(str(rng.choice(all_sys)), cut, e)
        else:
            add(label[t.speaker], s, e)
        if rng.random() < p_false_alarm:
            fs = float(rng.uniform(0, end_max))
            add(str(rng.choice(all_sys)), fs, fs + float(rng.exponential(2.0)) + 0.1)
    return sorted(out, key=lambda x: (x.start, x.speaker))
