"""Speed of DER/JER scoring on 100 random one-hour recordings, and agreement checks.

Generates random meetings (several speakers, overlapping speech) and degraded
system outputs, writes them as RTTM, then times

* this project's scorer (``espnet_tagspeech.scoring``: DER + JER),
* md-eval-22 (Debian ``sctk``) run as dscore runs it, if installed,
* pyannote.metrics ``DiarizationErrorRate`` (collar 0 only; ``--pyannote``),

and prints the seconds taken and whether the DER numbers agree (0.01 %).

Usage::

    python bench/bench_scoring.py [--n_rec 100] [--hours 1] [--pyannote]
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import List, Optional

import numpy as np


def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark and print a report."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n_rec", type=int, default=100)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pyannote", action="store_true", help="also time pyannote.metrics")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from espnet_tagspeech.data.formats import read_rttm, write_rttm
    from espnet_tagspeech.data.turn import merge_intervals
    from espnet_tagspeech.scoring.diarization import score_diarization
    from espnet_tagspeech.scoring.mdeval import find_md_eval, run_md_eval
    from espnet_tagspeech.scoring.synthetic import random_reference, random_system

    rng = np.random.default_rng(args.seed)
    ref, hyp = [], []
    t0 = time.perf_counter()
    for i in tqdm(range(args.n_rec), desc="generating", unit="rec"):
        r = random_reference(f"rec{i:03d}", rng, n_speakers=int(rng.integers(3, 8)),
                             duration=3600.0 * args.hours)
        ref += r
        hyp += random_system(r, rng, extra_speakers=int(rng.integers(0, 3)))
    with tempfile.TemporaryDirectory() as tmp:
        write_rttm(Path(tmp) / "ref.rttm", ref)
        write_rttm(Path(tmp) / "sys.rttm", hyp)
        t1 = time.perf_counter()
        ref = read_rttm(Path(tmp) / "ref.rttm")
        hyp = read_rttm(Path(tmp) / "sys.rttm")
        t_read = time.perf_counter() - t1
    hours = args.n_rec * args.hours
    print(f"data: {args.n_rec} recordings, {hours:.0f} h, {len(ref)} reference / {len(hyp)} "
          f"system turns (generated in {t1 - t0:.1f} s; RTTM read in {t_read:.2f} s)")

    ours = {}
    for collar in (0.0, 0.25):
        t = time.perf_counter()
        rep = score_diarization(ref, hyp, collar=collar)
        ours[collar] = (rep, time.perf_counter() - t)
        print(f"ours      collar {collar:<4}: DER {rep.overall.der:7.3f} %  JER "
              f"{rep.overall_jer:7.3f} %   {ours[collar][1]:6.2f} s (DER + JER)")

    script = find_md_eval()
    if script is None:
        print("md-eval-22: not installed (Debian package 'sctk'), skipped")
    else:
        for collar in (0.0, 0.25):
            t = time.perf_counter()
            md = run_md_eval(ref, hyp, collar=collar, script=script)
            dt = time.perf_counter() - t
            rep = ours[collar][0]
            worst = max(abs(f.der.der - md.files[f.file_id].der) for f in rep.files)
            ok = abs(rep.overall.der - md.overall.der) < 0.01 and worst < 0.01
            print(f"md-eval-22 collar {collar:<4}: DER {md.overall.der:7.3f} %             "
                  f"{dt:6.2f} s (DER only)   agree: {ok} (max per-file |diff| {worst:.2e} %)")

    if args.pyannote:
        from pyannote.core import Annotation, Segment
        from pyannote.metrics.diarization import DiarizationErrorRate

        def annotation(turns, rec):
            by = {}
            for x in turns:
                if x.recording == rec:
                    by.setdefault(x.speaker, []).append((x.start, x.end))
            a = Annotation(uri=rec)
            k = 0
            for spk, spans in by.items():
                for s, e in merge_intervals(spans):
                    a[Segment(s, e), k] = spk
                    k += 1
            return a

        rep = ours[0.0][0]
        recs = [f.file_id for f in rep.files]
        pairs = [(annotation(ref, r), annotation(hyp, r)) for r in recs]
        metric = DiarizationErrorRate(collar=0.0)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals = [100 * metric(a, b) for a, b in tqdm(pairs, desc="pyannote", unit="rec")]
        dt = time.perf_counter() - t
        worst = max(abs(v - f.der.der) for v, f in zip(vals, rep.files))
        ok = abs(100 * abs(metric) - rep.overall.der) < 0.01 and worst < 0.01
        print(f"pyannote   collar 0   : DER {100 * abs(metric):7.3f} %             "
              f"{dt:6.2f} s (DER only)   agree: {ok} (max per-file |diff| {worst:.2e} %)")


if __name__ == "__main__":
    main()
