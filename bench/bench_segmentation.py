"""How well reference-free windows cover the reference speech of a recipe's test set.

Segments every recording of a Kaldi dir that has an ``rttm`` (the mini
recipe's ``dump/mini/raw/test``) with each segmenter, optionally after adding
white noise at given SNRs (in memory; nothing is written), and prints per
segmenter and SNR:

- VAD miss / FA: reference speech time the segmenter's regions miss, and region
  time outside reference speech, both in % of reference speech time;
- window miss / FA: the same for the decoding windows (FA includes the pauses
  and padding inside windows);
- cuts in speech: window edges that fall inside reference speech (more than
  50 ms from a turn's edge): each may split a word;
- the number of windows, their mean and longest length, and the real-time factor;
- ref whole / 1:1: reference cuts lying inside one window, and those whose
  window is also less than 0.5 s longer (the window reproduces the cut).

The reference cuts of stage 3 (``<dir>_cuts/cut2reco``) are listed for comparison
when they exist.

Usage::

    python bench/bench_segmentation.py --data_dir egs2/mini_meeting/tagspeech1/dump/mini/raw/test \\
        [--segmenters energy silero] [--snr 20 10] [--max_window 20]
"""

import argparse
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Spans = List[Tuple[float, float]]


def _overlap(a: Spans, b: Spans) -> float:
    """Seconds shared by two sorted lists of disjoint spans."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _length(spans: Spans) -> float:
    return sum(e - s for s, e in spans)


def _edges_in_speech(edges: Sequence[float], ref: Spans, margin: float = 0.05) -> int:
    return sum(any(s + margin < t < e - margin for s, e in ref) for t in edges)


def _match(cuts: Dict[str, Spans], windows: Dict[str, Spans], tol: float = 0.05) -> Tuple[int, int]:
    """(reference cuts inside one window, of those the ones whose window is < 0.5 s longer)."""
    whole = same = 0
    for k, spans in cuts.items():
        for s, e in spans:
            hits = [(a, b) for a, b in windows.get(k, []) if a <= s + tol and e - tol <= b]
            whole += bool(hits)
            same += any((b - a) - (e - s) < 0.5 for a, b in hits)
    return whole, same


def _score(ref: Dict[str, Spans], hyp: Dict[str, Spans]) -> Tuple[float, float]:
    """(miss %, false alarm %) of ``hyp`` against ``ref``, over reference speech time."""
    speech = sum(_length(r) for r in ref.values())
    hit = sum(_overlap(ref[k], hyp.get(k, [])) for k in ref)
    fa = sum(_length(hyp.get(k, [])) for k in ref) - hit
    return 100 * (speech - hit) / speech, 100 * fa / speech


def main(argv: Optional[List[str]] = None) -> None:
    """Run the measurement and print the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default="egs2/mini_meeting/tagspeech1/dump/mini/raw/test")
    p.add_argument("--segmenters", nargs="+", default=["energy", "silero"])
    p.add_argument("--snr", type=float, nargs="*", default=[], help="also with white noise at these SNRs (dB)")
    p.add_argument("--max_window", type=float, default=20.0)
    p.add_argument("--merge_gap", type=float, default=0.2)
    p.add_argument("--pad", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import KaldiDataDir, read_scp
    from espnet_tagspeech.data.turn import merge_intervals
    from espnet_tagspeech.segment.recordings import load_mono_16k, segment_audio
    from espnet_tagspeech.segment.vad import SAMPLE_RATE, build_segmenter, silero_available
    from espnet_tagspeech.segment.windows import WindowConfig

    d = KaldiDataDir(args.data_dir)
    if d.rttm is None or d.wav_scp is None:
        raise SystemExit(f"{args.data_dir}: needs wav.scp and rttm")
    ref: Dict[str, Spans] = {k: [] for k in d.wav_scp}
    for t in d.rttm:
        ref.setdefault(t.recording, []).append((t.start, t.end))
    ref = {k: merge_intervals(v) for k, v in ref.items()}
    audio = {k: load_mono_16k(v, k) for k, v in d.wav_scp.items()}
    seconds = sum(len(a) for a in audio.values()) / SAMPLE_RATE
    speech = sum(_length(r) for r in ref.values())
    print(f"{args.data_dir}: {len(audio)} recordings, {seconds:.1f} s, reference speech {speech:.1f} s")
    config = WindowConfig(max_window=args.max_window, merge_gap=args.merge_gap, pad=args.pad)
    print(f"windows: max {config.max_window} s, merge_gap {config.merge_gap} s, pad {config.pad} s\n")

    header = (f"{'segmenter':<9} {'SNR':>5} {'VAD miss%':>9} {'VAD FA%':>8} {'win miss%':>9} {'win FA%':>8} "
              f"{'cuts in speech':>14} {'windows':>7} {'mean s':>6} {'max s':>6} {'RTF':>7} {'ref whole':>9} {'1:1':>5}")  # fmt: skip
    print(header)
    print("-" * len(header))
    cuts_file = Path(str(Path(args.data_dir)) + "_cuts") / "cut2reco"
    cuts: Dict[str, Spans] = {}
    if cuts_file.is_file():
        for value in read_scp(cuts_file).values():
            reco, s, e = value.split()
            cuts.setdefault(reco, []).append((float(s), float(e)))
        lengths = [e - s for v in cuts.values() for s, e in v]
        miss, fa = _score(ref, {k: merge_intervals(v) for k, v in cuts.items()})
        edges = sum(_edges_in_speech([t for s, e in v for t in (s, e)], ref.get(k, [])) for k, v in cuts.items())
        print(f"{'ref cuts':<9} {'clean':>5} {'':>9} {'':>8} {miss:9.2f} {fa:8.2f} {edges:14d} {len(lengths):7d} "
              f"{np.mean(lengths):6.2f} {max(lengths):6.2f} {'':>7}")  # fmt: skip

    rng = np.random.default_rng(args.seed)
    for snr in [None] + list(args.snr):
        inputs = audio
        if snr is not None:  # noise power set against the mean power over reference speech
            inputs = {}
            for k, a in audio.items():
                mask = np.zeros(len(a), bool)
                for s, e in ref[k]:
                    mask[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] = True
                power = float(np.mean(a[mask] ** 2)) if mask.any() else float(np.mean(a**2))
                noise = rng.standard_normal(len(a)) * np.sqrt(power / 10 ** (snr / 10))
                inputs[k] = (a + noise).astype(np.float32)
        for name in args.segmenters:
            if name == "silero" and not silero_available():
                print(f"{name:<9} skipped: silero-vad is not installed")
                continue
            seg = build_segmenter(name)
            seg.prepare()
            vad: Dict[str, Spans] = {}
            win: Dict[str, Spans] = {}
            lengths, edges = [], 0
            t0 = time.perf_counter()
            for k, a in tqdm(inputs.items(), desc=f"{name} snr={snr}", leave=False):
                r = segment_audio(a, k, seg, config)
                vad[k] = [(x.start, x.end) for x in r.regions]
                win[k] = [(w.start, w.end) for w in r.windows]
                lengths += [w.duration for w in r.windows]
                edges += _edges_in_speech([t for w in r.windows for t in (w.start, w.end)], ref[k])
            rtf = (time.perf_counter() - t0) / seconds
            vmiss, vfa = _score(ref, vad)
            wmiss, wfa = _score(ref, win)
            tag = "clean" if snr is None else f"{snr:g}"
            mean = np.mean(lengths) if lengths else 0.0
            longest = max(lengths) if lengths else 0.0
            whole, same = _match(cuts, win)
            n_cuts = sum(len(v) for v in cuts.values())
            match = f"{whole:>4}/{n_cuts:<4} {same:5d}" if cuts else ""
            print(f"{name:<9} {tag:>5} {vmiss:9.2f} {vfa:8.2f} {wmiss:9.2f} {wfa:8.2f} {edges:14d} "
                  f"{len(lengths):7d} {mean:6.2f} {longest:6.2f} {rtf:7.4f} {match}")  # fmt: skip


if __name__ == "__main__":
    main()
