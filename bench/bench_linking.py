"""Speed and accuracy of cross-cut speaker linking on synthetic meetings of growing length.

Builds meetings of 1, 10, 30 and 60 minutes with 4-8 speakers (lines of 1-8 s,
turn overlaps and short backchannels said inside others' lines) without any
audio: the "audio" is the frame index itself, and the embedding function
averages a precomputed frame table (speaker centroid + per-line offset + frame
noise, summed where lines overlap).  Times :func:`link_lines` (every line an
item) and :func:`link_speakers` (30-s cuts whose local speakers are linked),
and prints the wall time, seconds per audio minute, the speakers found against
the true count and the share of speech given to the right speaker (best
one-to-one mapping).

Usage::

    python bench/bench_linking.py [--minutes 1 10 30 60] [--unit line speaker]
        [--window_sec 300] [--linking_module /path/to/linking.py]

``--linking_module`` times another copy of the linking module (e.g. an older
version saved with ``git show``); ``--window_sec`` is passed only when given
(``0`` means no windows: one clustering of the whole meeting).
"""

import argparse
import importlib.util
import time
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

FRAME_RATE = 20  # "samples" per second of the fake audio: one embedding frame each
DIM = 32
CUT_SEC = 30.0
# the mini recipe's line-linking options
LINE_OPTIONS = dict(threshold=0.4, max_overlap=1.0, min_speaker_sec=3.0, voice_trim=0.2,
                    max_overlap_frac=0.5, min_line_sec=1.2)


def _load(path: Optional[str]) -> ModuleType:
    """The linking module: this project's, or a copy at ``path``."""
    if not path:
        import espnet_tagspeech.decode.voices as mod

        return mod
    spec = importlib.util.spec_from_file_location("linking_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def synthetic_meeting(
    minutes: float, rng: np.random.Generator
) -> Tuple[List[Tuple[int, float, float]], np.ndarray, Callable[[np.ndarray, int], np.ndarray], int]:
    """A meeting of ``minutes`` with a random number of speakers.

    Returns:
        ``(lines, audio, embed, num_speakers)``: lines as ``(speaker, start,
        end)`` sorted by start, the fake audio (frame indices), an embedding
        function over it and the number of speakers who speak.
    """
    n_spk = int(rng.integers(4, 9))
    duration = 60.0 * minutes
    centroids = rng.standard_normal((n_spk, DIM))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    lines: List[Tuple[int, float, float]] = []
    t, prev = 0.5, -1
    while True:
        spk = int(rng.choice([s for s in range(n_spk) if s != prev]))
        length = float(rng.uniform(1.0, 8.0))
        if t + length > duration:
            break
        lines.append((spk, round(t, 2), round(t + length, 2)))
        if rng.random() < 0.15 and length > 2.0:  # a backchannel inside this line
            other = int(rng.choice([s for s in range(n_spk) if s != spk]))
            s = t + float(rng.uniform(0.3, length - 1.2))
            lines.append((other, round(s, 2), round(s + float(rng.uniform(0.3, 0.9)), 2)))
        t += length + float(rng.uniform(-0.8, 1.5))  # negative: the next turn overlaps this one
        prev = spk
    lines.sort(key=lambda x: (x[1], x[2]))
    frames = 0.3 * rng.standard_normal((int(duration * FRAME_RATE) + 1, DIM))
    for spk, s, e in lines:
        offset = 0.06 * rng.standard_normal(DIM)  # the line's own deviation (channel, mood)
        frames[int(s * FRAME_RATE): int(e * FRAME_RATE)] += centroids[spk] + offset
    audio = np.arange(len(frames), dtype=np.float64)

    def embed(chunk: np.ndarray, rate: int) -> np.ndarray:
        return frames[np.asarray(chunk, dtype=np.int64)].mean(0)

    return lines, audio, embed, len({spk for spk, _, _ in lines})


def speech_accuracy(truth: Sequence[int], found: Sequence[str], weight: Sequence[float]) -> float:
    """Share of the weighted items whose label maps to their true speaker (one-to-one)."""
    from scipy.optimize import linear_sum_assignment

    labels = sorted(set(found))
    col = {lab: k for k, lab in enumerate(labels)}
    table = np.zeros((max(truth) + 1, len(labels)))
    for t, f, w in zip(truth, found, weight):
        table[t, col[f]] += w
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / table.sum())


def _run_lines(mod: ModuleType, lines, audio, embed, kwargs) -> Tuple[float, List[str]]:
    from espnet_tagspeech.data.turn import Turn

    turns = [Turn.from_text("rec", "x", s, e, f"line{i}") for i, (_, s, e) in enumerate(lines)]
    t0 = time.perf_counter()
    out = mod.link_lines(turns, audio, FRAME_RATE, embed, **LINE_OPTIONS, **kwargs)
    took = time.perf_counter() - t0
    label = {t.text: t.speaker for t in out}
    return took, [label[f"line{i}"] for i in range(len(lines))]


def _run_speakers(mod: ModuleType, lines, audio, embed, kwargs) -> Tuple[float, List[str]]:
    from espnet_tagspeech.data.turn import Turn

    turns, cut_of = [], {}
    for spk, s, e in lines:
        cut = int(s // CUT_SEC)
        label = f"cut{cut}|{spk}"  # the model's local ids are right within a cut
        cut_of[label] = f"cut{cut}"
        turns.append(Turn("rec", label, s, min(e, (cut + 1) * CUT_SEC)))
    t0 = time.perf_counter()
    out, _ = mod.link_speakers(turns, [], cut_of, audio, FRAME_RATE, embed, threshold=0.3, **kwargs)
    return time.perf_counter() - t0, [t.speaker for t in out]


def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark and print a report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30, 60])
    p.add_argument("--unit", nargs="+", choices=["line", "speaker"], default=["line", "speaker"])
    p.add_argument("--window_sec", type=float, default=None, help="passed to the linking functions if given")
    p.add_argument("--linking_module", help="time this copy of linking.py instead")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    mod = _load(args.linking_module)
    kwargs: Dict[str, Optional[float]] = {}
    if args.window_sec is not None:
        kwargs["window_sec"] = args.window_sec or None
    print(f"module {mod.__file__}  options {kwargs or 'default'}")
    print(f"{'unit':8s} {'minutes':>7s} {'items':>6s} {'seconds':>9s} {'s/min':>8s} "
          f"{'speakers':>9s} {'accuracy':>9s}")
    for unit in args.unit:
        for minutes in args.minutes:
            rng = np.random.default_rng([args.seed, int(round(60 * minutes))])  # one meeting per length
            lines, audio, embed, n_spk = synthetic_meeting(minutes, rng)
            run = _run_lines if unit == "line" else _run_speakers
            took, found = run(mod, lines, audio, embed, kwargs)
            items = len(lines) if unit == "line" else len({(int(s // CUT_SEC), spk) for spk, s, _ in lines})
            acc = speech_accuracy([spk for spk, _, _ in lines], found, [e - s for _, s, e in lines])
            print(f"{unit:8s} {minutes:7.0f} {items:6d} {took:9.2f} {took / minutes:8.3f} "
                  f"{len(set(found)):4d}/{n_spk:<4d} {100 * acc:8.1f}%", flush=True)


if __name__ == "__main__":
    main()
