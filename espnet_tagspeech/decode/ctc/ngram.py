"""A token n-gram language model of transcript lines (for CTC prefix beam search).

Trained on the training cuts' text lines, each encoded the way the CTC head's
labels are (:func:`espnet_tagspeech.tsot.element_labels`: every word with a
leading space) and ended by the newline token, the model scores a line's next
token from the previous ``order - 1`` tokens of the same line.  Smoothing is
interpolated absolute discounting (discount ``D`` per order, estimated as
``n1 / (n1 + 2 n2)`` and kept inside [0.1, 0.9]) down to a unigram with add-one counts, so every token of
the vocabulary keeps a finite score.

Stored as JSON (``save`` / ``load``, written atomically).
"""

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

BOS = -1  # history padding at the start of a line
_FORMAT = "espnet_tagspeech.ngram/1"  # the saved file format's tag (not a module path): keep


class TokenNgramLM:
    """Interpolated absolute-discounting n-gram LM over token ids.

    Args:
        order: n (>= 1).
        vocab_size: Number of token ids (for the unigram floor).
        counts: For each order k = 1..n, ``{context tuple: {token: count}}``.
    """

    def __init__(self, order: int, vocab_size: int, counts: List[Dict[Tuple[int, ...], Dict[int, int]]]) -> None:
        if order < 1 or len(counts) != order:
            raise ValueError(f"need order >= 1 and one count table per order, got {order}, {len(counts)}")
        self.order = order
        self.vocab_size = vocab_size
        self.counts = counts
        self.totals = [{h: sum(c.values()) for h, c in tab.items()} for tab in counts]
        self.discounts = []
        for tab in counts:
            n = Counter(v for c in tab.values() for v in c.values())
            n1, n2 = n.get(1, 0), n.get(2, 0)
            d = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
            # kept inside [0.1, 0.9]: with no count-2 n-grams (tiny data) D would be 1
            # and every singleton continuation would fall back to the lower order
            self.discounts.append(min(0.9, max(0.1, d)))
        self._cache: Dict[Tuple[int, ...], float] = {}

    @classmethod
    def train(cls, lines: Iterable[Sequence[int]], order: int, vocab_size: int) -> "TokenNgramLM":
        """Count the n-grams of ``lines`` (token ids, each line ending in its end token)."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        counts: List[Dict[Tuple[int, ...], Dict[int, int]]] = [defaultdict(Counter) for _ in range(order)]
        for line in lines:
            hist = [BOS] * (order - 1)
            for tok in line:
                tok = int(tok)
                if not 0 <= tok < vocab_size:
                    raise ValueError(f"token id {tok} outside the vocabulary of {vocab_size}")
                for k in range(order):  # k = context length
                    counts[k][tuple(hist[len(hist) - k:]) if k else ()][tok] += 1
                hist = (hist + [tok])[1:] if order > 1 else hist
        return cls(order, vocab_size, [{h: dict(c) for h, c in tab.items()} for tab in counts])

    def logprob(self, history: Sequence[int], token: int) -> float:
        """``log P(token | last order-1 tokens of history)`` (history padded with ``BOS``)."""
        hist = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        hist = (BOS,) * (self.order - 1 - len(hist)) + hist
        key = hist + (int(token),)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = math.log(self._prob(hist, int(token)))
        return hit

    def _prob(self, hist: Tuple[int, ...], token: int) -> float:
        uni = self.counts[0].get((), {})
        p = (uni.get(token, 0) + 1.0) / (self.totals[0].get((), 0) + self.vocab_size)
        for k in range(1, self.order):
            ctx = hist[len(hist) - k:]
            seen = self.counts[k].get(ctx)
            if not seen:
                continue
            total, d = self.totals[k][ctx], self.discounts[k]
            p = max(seen.get(token, 0) - d, 0.0) / total + d * len(seen) / total * p
        return p

    def save(self, path: Union[str, Path]) -> None:
        """Write the model as JSON (atomically)."""
        from espnet_tagspeech.data.atomic import atomic_write

        tables = [[[list(h), [[t, c] for t, c in sorted(tab[h].items())]] for h in sorted(tab)] for tab in self.counts]
        with atomic_write(Path(path)) as f:
            json.dump({"format": _FORMAT, "order": self.order, "vocab_size": self.vocab_size,
                       "counts": tables}, f)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "TokenNgramLM":
        """Read a model written by :meth:`save`.

        Raises:
            ValueError: not such a file (names the path).
        """
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            if d.get("format") != _FORMAT:
                raise ValueError(f"format {d.get('format')!r}")
            counts = [{tuple(h): {int(t): int(c) for t, c in row} for h, row in tab} for tab in d["counts"]]
            return cls(int(d["order"]), int(d["vocab_size"]), counts)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a token n-gram LM of espnet_tagspeech ({e})") from None
