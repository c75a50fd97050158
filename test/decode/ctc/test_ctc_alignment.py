"""Tests of CTC Viterbi alignment and the lines a CTC head transcribes (espnet_tagspeech/decode/ctc/alignment.py)."""

import itertools

import numpy as np
import pytest

from espnet_tagspeech.decode.ctc.alignment import collapse_path, ctc_lines, ctc_viterbi


def _collapse(path, blank):
    return tuple(collapse_path(path, blank))


def _brute_force(lp, labels, blank):
    best, best_path = -np.inf, None
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        if _collapse(path, blank) != tuple(labels):
            continue
        score = sum(lp[t, s] for t, s in enumerate(path))
        if score > best:
            best, best_path = score, path
    if best_path is None:
        return None
    # the frames of the k-th label: walk the path, counting label runs
    spans, k, prev = [], -1, None
    for t, s in enumerate(best_path):
        if s != blank and s != prev:
            k += 1
            spans.append([t, t])
        elif s != blank:
            spans[k][1] = t
        prev = s
    return np.array(spans)


@pytest.mark.parametrize("labels", [(0, 1), (0, 0, 1), (2, 1, 2), (1,)])
def test_viterbi_matches_brute_force(labels):
    rng = np.random.default_rng(len(labels) + sum(labels))
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(4), size=6))  # 6 frames, 3 labels + blank (3)
        got = ctc_viterbi(lp, labels, blank=3)
        np.testing.assert_array_equal(got, _brute_force(lp, labels, 3))


def test_viterbi_edge_cases():
    lp = np.log(np.full((2, 3), 1 / 3))
    assert ctc_viterbi(lp, [0, 0], blank=2) is None  # a repeat needs a blank between: 3 frames
    assert ctc_viterbi(lp, [0, 1], blank=2) is not None
    assert ctc_viterbi(lp, [], blank=2).shape == (0, 2)
    with pytest.raises(ValueError, match="blank"):
        ctc_viterbi(lp, [2], blank=2)
    with pytest.raises(ValueError, match="blank"):
        ctc_viterbi(lp, [5], blank=2)


class _WordTokenizer:
    """One id per word, the newline its own id: enough to spell CTC labels."""

    def __init__(self, words):
        self.ids = {w: i for i, w in enumerate(["\n"] + list(words))}

    def encode(self, text):
        if text == "\n":
            return [0]
        return [self.ids[w] for w in text.split()]


def _posteriors(num_frames, vocab, placed, peak=0.95):
    """CTC log posteriors: label ``i`` sure at each frame ``placed[frame] = i``, blank elsewhere."""
    probs = np.full((num_frames, vocab + 1), (1 - peak) / vocab)
    probs[:, vocab] = peak
    for t, i in placed.items():
        probs[t] = (1 - peak) / vocab
        probs[t, i] = peak
    return np.log(probs)


class _DecodingTokenizer(_WordTokenizer):
    """A word tokenizer that also decodes (words space-separated, symbols as they are)."""

    def __init__(self, words):
        super().__init__(["<cc>"] + list(words))
        self.words = {i: w for w, i in self.ids.items()}

    def encode(self, text):
        return [0] if text == "\n" else [self.ids[w] for w in text.split()]

    def decode(self, ids):
        return " ".join(self.words[i] for i in ids).replace(" \n ", "\n")


def test_ctc_lines_read_overlapping_lines_off_a_time_ordered_head():
    tok = _DecodingTokenizer(["hello", "there", "yes"])
    cc, h, t, y = (tok.ids[w] for w in ("<cc>", "hello", "there", "yes"))
    # 0.1 s frames: hello (ch0) at 2, yes (ch1) at 5-6 and its line end, there (ch0) at 9-10
    lp = _posteriors(14, 5, {2: h, 4: cc, 5: y, 6: y, 7: 0, 8: cc, 9: t, 10: t, 12: 0})
    turns = ctc_lines(lp, tok, frame_shift=0.1, num_channels=2, recording="c1")
    assert [(x.recording, x.speaker, x.text) for x in turns] == [("c1", "ch0", "hello there"),
                                                                  ("c1", "ch1", "yes")]
    assert [x for u in turns for x in (u.start, u.end)] == pytest.approx([0.2, 1.1, 0.5, 0.7])
    # word times come with the lines
    assert [w.start for w in turns[0].words] == pytest.approx([0.2, 0.9])
    padded = ctc_lines(lp, tok, 0.1, 2, start_pad=0.3, end_pad=0.5)
    assert [x for u in padded for x in (u.start, u.end)] == pytest.approx([0.0, 1.4, 0.2, 1.2])
    # one channel (an SOT head): the channel change is just a switch back to the same line
    assert [x.text for x in ctc_lines(lp, tok, 0.1, 1)] == ["hello yes", "there"]
    # nothing but blanks: no lines
    assert ctc_lines(_posteriors(5, 5, {}), tok, 0.1, 2) == []


def test_text_block_matches_the_serializer():
    from espnet_tagspeech.data.turn import Turn
    from espnet_tagspeech.serialization import serialize, text_block

    turns = [Turn.from_text("c", "b", 0.96, 2.13, "okay um"), Turn.from_text("c", "a", 0.0, 1.214, "uh no")]
    block = text_block(turns)
    assert block == "<text>\n0.00-1.21>uh no\n0.96-2.13>okay um\n</text>"
    assert serialize(turns).startswith(block + "\n<speaker>")
    assert text_block([]) == "<text>\n</text>"
    with pytest.raises(ValueError, match="reserved"):
        text_block([Turn.from_text("c", "a", 0.0, 1.0, "a<b")])
