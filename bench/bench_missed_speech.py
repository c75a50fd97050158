"""Where a decoding misses speech: by how many reference speakers talk at once.

Reads one decoded test set (its ``rttm`` and ``hyp.seglst.json``) and the
reference (the data dir's ``rttm`` and ``words.ctm``) and prints:

* per number of reference speakers talking (0, 1, 2, 3+): the share of the
  reference speech time there, and the missed and false-alarm speech there,
  in points of the whole reference speech (frame by frame at 10 ms, no collar,
  speakers not mapped: a frame where two people talk and the system has one
  speaker is one missed speaker), so the rows sum to MISS and FA of the DER
  at collar 0 before speaker mapping;
* the share of reference words found, said alone and said in overlap (a word
  is in overlap when another reference speaker talks at its midpoint; it is
  found when a hypothesis line of any speaker spanning its midpoint, widened
  by ``--margin`` seconds, holds that word).  Recognition, not attribution.

Run from a recipe dir, e.g. ``egs2/mini_meeting/tagspeech1``::

    python ../../../bench/bench_missed_speech.py \\
        --decode_dir exp/tagspeech_mini/decode_<...>/test --data_dir dump/mini/raw/test
"""

import argparse
import collections
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.turn import Turn, Word

RATE = 100  # frames per second


def activity(turns: Sequence[Turn], frames: int) -> np.ndarray:
    """Speakers talking at each 10-ms frame of one recording (a speaker's overlapping turns count once)."""
    count = np.zeros(frames, dtype=np.int64)
    by_speaker: Dict[str, np.ndarray] = {}
    for t in turns:
        mask = by_speaker.setdefault(t.speaker, np.zeros(frames, dtype=bool))
        mask[int(round(t.start * RATE)): int(round(t.end * RATE))] = True
    for mask in by_speaker.values():
        count += mask
    return count


def speech_by_overlap(ref: Sequence[Turn], hyp: Sequence[Turn]) -> Dict[int, Tuple[float, float, float]]:
    """Per number of reference speakers talking (3 = three or more): reference speech,
    missed speech and false-alarm speech, in seconds (summed over speakers)."""
    out: Dict[int, List[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    recordings = sorted({t.recording for t in ref} | {t.recording for t in hyp})
    for reco in recordings:
        r = [t for t in ref if t.recording == reco]
        h = [t for t in hyp if t.recording == reco]
        frames = int(np.ceil(max(t.end for t in r + h) * RATE)) + 1
        rc, hc = activity(r, frames), activity(h, frames)
        for n in range(0, int(rc.max(initial=0)) + 1):
            sel = rc == n
            row = out[min(n, 3)]
            row[0] += n * sel.sum() / RATE
            row[1] += np.maximum(n - hc[sel], 0).sum() / RATE
            row[2] += np.maximum(hc[sel] - n, 0).sum() / RATE
    return {k: tuple(v) for k, v in sorted(out.items())}


def word_recall(ref_words: Sequence[Tuple[str, str, Word]], ref: Sequence[Turn], hyp: Sequence[Turn],
                margin: float = 0.5) -> Dict[bool, Tuple[int, int]]:
    """``{in_overlap: (found, total)}`` over the reference words (see the module docstring; in
    overlap as the scorer's overlapped-word WER counts it)."""
    from espnet_tagspeech.scoring.overlap import ReferenceTurns

    turns = ReferenceTurns(ref)
    lines = collections.defaultdict(list)
    for t in hyp:
        lines[t.recording].append((t.start - margin, t.end + margin, {w.text for w in t.words}))
    out = {False: [0, 0], True: [0, 0]}
    for reco, _, w in ref_words:
        mid = 0.5 * (w.start + w.end)
        overlap = turns.overlapped(reco, w)
        found = any(s <= mid <= e and w.text in words for s, e, words in lines[reco])
        out[overlap][0] += found
        out[overlap][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decode_dir", required=True, help="a decoded set: rttm, hyp.seglst.json")
    p.add_argument("--data_dir", required=True, help="its reference: rttm, words.ctm")
    p.add_argument("--margin", type=float, default=0.5, help="seconds a hypothesis line is widened by")
    return p


def main(argv=None) -> int:
    from espnet_tagspeech.data.formats import read_ctm, read_rttm, read_seglst

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    dec, data = Path(args.decode_dir), Path(args.data_dir)
    for f in (dec / "rttm", dec / "hyp.seglst.json", data / "rttm", data / "words.ctm"):
        if not f.is_file():
            logging.error("%s: missing", f)
            return 1
    ref = read_rttm(data / "rttm")
    speech = speech_by_overlap(ref, read_rttm(dec / "rttm"))
    total = sum(v[0] for v in speech.values()) or 1.0
    print(f"{dec}: {total:.1f} s of reference speech")
    print("| speakers talking | share of speech | MISS | FA |")
    print("|--:|--:|--:|--:|")
    for n, (s, miss, fa) in speech.items():
        print(f"| {n}{'+' if n == 3 else ''} | {100 * s / total:.1f} | {100 * miss / total:.2f} | {100 * fa / total:.2f} |")
    recall = word_recall(read_ctm(data / "words.ctm"), ref, read_seglst(dec / "hyp.seglst.json"), args.margin)
    for overlap, (found, n) in sorted(recall.items()):
        print(f"words said {'in overlap' if overlap else 'alone'}: {found} of {n} found ({100 * found / max(n, 1):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
