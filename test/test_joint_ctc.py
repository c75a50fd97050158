"""Joint CTC / LLM decoding: prefix probabilities, the text-block state, the processor."""

import itertools
import math

import numpy as np
import pytest
import torch

from espnet_tagspeech.joint_ctc import AnswerTokens, CtcPrefixScorer, JointCtcLogitsProcessor
from espnet_tagspeech.model.tiny import setup_tiny, spelled_ctc_posteriors


def _brute_force(logp: np.ndarray):
    """Probability of every collapsed label sequence, by enumerating all CTC paths."""
    frames, size = logp.shape
    blank = size - 1
    probs = {}
    for path in itertools.product(range(size), repeat=frames):
        collapsed = tuple(k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k))
        p = math.exp(sum(logp[t, k] for t, k in enumerate(path)))
        probs[collapsed] = probs.get(collapsed, 0.0) + p
    return probs


def test_prefix_and_full_scores_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)) * 2  # 2 labels + blank, 5 frames
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    probs = _brute_force(logp)
    sc = CtcPrefixScorer(logp)
    for prefix in [(), (0,), (1,), (0, 0), (0, 1), (1, 0, 1), (1, 1, 0)]:
        full = probs.get(prefix, 0.0)
        starts = sum(p for seq, p in probs.items() if seq[: len(prefix)] == prefix)
        assert math.exp(sc.full_score(prefix)) == pytest.approx(full, abs=1e-5), prefix
        assert math.exp(sc.prefix_score(prefix)) == pytest.approx(starts, rel=1e-4, abs=1e-6), prefix
    # the extensions of a prefix, all at once, agree too
    ext, _ = sc.extensions((0,))
    for c in (0, 1):
        want = sum(p for seq, p in probs.items() if seq[:2] == (0, c))
        assert math.exp(ext[c]) == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_more_labels_than_frames_is_impossible():
    sc = CtcPrefixScorer(np.log(np.full((2, 3), 1 / 3)))
    assert sc.prefix_score((0, 1, 0)) < -1e9


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer

    work = tmp_path_factory.mktemp("jctc")
    setup_tiny(str(work), num_cuts=3)
    return SentencePieceTokenizer(str(work / "token" / "tokenizer.model"))


TARGET = (
    "<text>\n0.00-0.60>hello there\n0.40-1.00>hi\n</text>\n<speaker>\n"
    '<spk id="1" g="f" t="0.00-0.60"/>\n<spk id="2" g="m" t="0.40-1.00"/>\n</speaker>'
)


def _state_after(tok, answer, text):
    ids = tok.encode(answer)
    cut = tok.encode(text)
    assert ids[: len(cut)] == cut, "test strings must tokenize as prefixes"
    return AnswerTokens(tok).state(cut)


def test_text_block_states(tokenizer):
    tok = tokenizer
    words = lambda s: tuple(tok.encode(s))  # noqa: E731
    nl = tok.encode("\n")[0]
    st = _state_after(tok, TARGET, "<text>\n")
    assert (st.kind, st.labels, st.first) == ("line_start", (), True)
    st = _state_after(tok, TARGET, "<text>\n0.00-0.6")
    assert (st.kind, st.stamp) == ("stamp", "0.00-0.6")
    st = _state_after(tok, TARGET, "<text>\n0.00-0.60>")
    assert (st.kind, st.labels) == ("word", ())
    st = _state_after(tok, TARGET, "<text>\n0.00-0.60>hello there\n")
    assert (st.kind, st.labels, st.first) == ("line_start", words("hello there"), False)
    st = _state_after(tok, TARGET, "<text>\n0.00-0.60>hello there\n0.40-1.00>hi")
    assert (st.kind, st.labels) == ("word", words("hello there") + (nl,) + words("hi"))
    assert _state_after(tok, TARGET, "<text>\n0.00-0.60>hello there\n0.40-1.00>hi\n</text>").kind == "other"
    assert _state_after(tok, TARGET, TARGET).kind == "other"  # the speaker block's > and newlines
    assert AnswerTokens(tok).state([]).kind == "other"


def test_processor_follows_the_ctc_labels(tokenizer):
    """With weight 1 and a flat LLM, every decision in the text block is the CTC's."""
    tok = tokenizer
    vocab = tok.vocab_size
    labels = tuple(tok.encode("hello there\nhi"))
    proc = JointCtcLogitsProcessor([spelled_ctc_posteriors(labels, vocab)], AnswerTokens(tok), 1.0)
    flat = torch.zeros(1, vocab)

    def best(text):
        out = proc(torch.tensor([tok.encode(text)]), flat)
        return int(out[0].argmax())

    nl = tok.encode("\n")[0]
    assert best("<text>\n0.00-0.60>") == labels[0]
    assert best("<text>\n0.00-0.60>hello there") == nl  # the CTC's line change
    after_first = "<text>\n0.00-0.60>hello there\n"
    out = proc(torch.tensor([tok.encode(after_first)]), flat)[0]
    assert out[tok.encode("0")[0]] > out[tok.encode("</text>")[0]]  # a line follows
    assert best(after_first + "0.40-1.00>") == tok.encode("hi")[0]
    done = after_first + "0.40-1.00>hi\n"
    out = proc(torch.tensor([tok.encode(done)]), flat)[0]
    assert out[tok.encode("</text>")[0]] > out[tok.encode("0")[0]]  # no label left: close
    # outside the text block the LLM's scores are kept as they are
    scores = torch.randn(1, vocab)
    prompt = tok.encode(TARGET)[:-3]
    assert torch.allclose(proc(torch.tensor([prompt]), scores), torch.log_softmax(scores, -1))


@pytest.mark.parametrize(
    "text, ok",
    [("1", True), ("12.5", True), ("1.25-", True), ("1.25-1.3", True), ("1.25-1.2", True),
     ("1.25-1.24", False), ("1.25-0", True), ("1.25-0.", False), ("3.00-12.00>", True),
     ("1.2.", False), ("-", False), (">", False), ("1.25-1.25>", True), ("12345", False)],
)
def test_timestamp_grammar(text, ok):
    from espnet_tagspeech.joint_ctc import _stamp_ok

    assert _stamp_ok(text) is ok


def test_processor_keeps_timestamps_well_formed(tokenizer):
    tok = tokenizer
    labels = tuple(tok.encode("hello"))
    proc = JointCtcLogitsProcessor([spelled_ctc_posteriors(labels, tok.vocab_size)], AnswerTokens(tok), 0.5)
    ids = tok.encode("<text>\n1.25-1.")
    out = proc(torch.tensor([ids]), torch.zeros(1, tok.vocab_size))[0]
    allowed = {tok.decode([i]) for i in torch.nonzero(out > -1e8).flatten().tolist()}
    assert allowed == {"2", "3", "4", "5", "6", "7", "8", "9"}  # 1.2x only if x >= 5 later


def test_processor_rejects_bad_weight(tokenizer):
    with pytest.raises(ValueError, match="ctc_weight"):
        JointCtcLogitsProcessor([np.zeros((3, 4))], AnswerTokens(tokenizer), 0.0)
