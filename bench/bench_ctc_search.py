"""Speed of the CTC text path of decoding: prefix beam search with the n-gram LM, alignment.

Builds peaky random CTC posteriors of a 20-s cut (50 ms frames, 800 labels, a word
every 4-8 frames on two t-SOT channels), a random 4-gram token LM, and times per cut

* greedy labels,
* the prefix beam search at several beam sizes, with and without the LM,
* the Viterbi alignment that gives every word its time (``ctc_line_words``).

Usage::

    python bench/bench_ctc_search.py [--cuts 10] [--seconds 20] [--beams 1 4 8 16]
"""

import argparse
import time
from typing import List, Optional

import numpy as np


class _Tok:
    """Label ids as words ``w<id>``; 1 is the newline, 2 the channel change."""

    def encode(self, text: str) -> List[int]:
        if text == "\n":
            return [1]
        if text == "<cc>":
            return [2]
        return [int(w[1:]) for w in text.split()]

    def decode(self, ids) -> str:
        return " ".join({1: "\n", 2: "<cc>"}.get(i, f"w{i}") for i in ids)


def _posteriors(rng, frames: int, vocab: int) -> np.ndarray:
    probs = np.full((frames, vocab + 1), 1e-4)
    probs[:, vocab] = 1.0
    t = 2
    while t < frames - 2:
        label = int(rng.integers(3, vocab)) if rng.random() > 0.15 else int(rng.integers(1, 3))
        probs[t] = 1e-4
        probs[t, label] = rng.uniform(0.5, 0.95)
        probs[t, int(rng.integers(3, vocab))] += rng.uniform(0.0, 0.4)  # a competitor
        probs[t, vocab] = 0.05
        t += int(rng.integers(4, 9))
    return np.log(probs / probs.sum(1, keepdims=True))


def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark and print a report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--vocab", type=int, default=800)
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4, 8, 16])
    args = p.parse_args(argv)

    from espnet_tagspeech.decode.ctc.alignment import ctc_line_words, greedy_labels
    from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM
    from espnet_tagspeech.decode.ctc.search import ctc_prefix_beam_search

    rng = np.random.default_rng(0)
    frames = int(args.seconds / 0.05)
    cuts = [_posteriors(rng, frames, args.vocab) for _ in range(args.cuts)]
    lines = [list(rng.integers(3, args.vocab, size=rng.integers(3, 15))) + [1] for _ in range(5000)]
    lm = TokenNgramLM.train(lines, 4, args.vocab + 0)
    tok = _Tok()
    print(f"{args.cuts} cuts of {args.seconds:.0f} s ({frames} frames, {args.vocab} labels + blank)")

    def per_cut(fn) -> float:
        t0 = time.perf_counter()
        for lp in cuts:
            fn(lp)
        return 1000 * (time.perf_counter() - t0) / len(cuts)

    print(f"greedy labels:            {per_cut(lambda lp: greedy_labels(lp, args.vocab)):8.1f} ms/cut")
    for beam in args.beams:
        plain = per_cut(lambda lp: ctc_prefix_beam_search(lp, beam))
        fused = per_cut(lambda lp: ctc_prefix_beam_search(lp, beam, lm, 0.5, 3.0, end_token=1,
                                                          channel_token=2, num_channels=2))
        print(f"beam {beam:2d}: CTC alone {plain:8.1f} ms/cut, with the 4-gram LM {fused:8.1f} ms/cut")
    align = per_cut(lambda lp: ctc_line_words(lp, tok, 0.05, 2))
    print(f"alignment (ctc_line_words): {align:6.1f} ms/cut")


if __name__ == "__main__":
    main()
