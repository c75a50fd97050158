"""The LLM answer's search helpers: the speaker-block constraint, CTC word fusion, loop blocking."""

import numpy as np
import pytest
import torch

from espnet_tagspeech.decode.answer_search import (
    CtcWordBias,
    RepeatedWordBlock,
    SpeakerBlockConstraint,
    _split_answer,
    ctc_emissions,
)

TEXT = "<text>\n0.00-4.81>we should\n3.03-3.65>exactly\n3.85-10.17>we need\n</text>\n<speaker>\n"


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from espnet_tagspeech.model.tiny import setup_tiny
    from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer

    work = tmp_path_factory.mktemp("tok")
    setup_tiny(str(work), num_cuts=3)
    return SentencePieceTokenizer(str(work / "token" / "tokenizer.model"))


def _next(tok, con, text):
    return sorted(tok.decode([i]) for i in con.allowed(tok.encode(text)))


def test_ranges_are_the_text_lines_each_once(tok):
    con = SpeakerBlockConstraint(tok)
    assert con.allowed(tok.encode(TEXT + '<spk id="1" g="m" ')) is None  # not in a range list
    first = TEXT + '<spk id="1" g="m" t="'
    assert _next(tok, con, first) == ["0", "3"]
    assert _next(tok, con, first + "3.") == ["0", "8"]
    # a whole range: another one or the end of the list
    assert _next(tok, con, first + "3.03-3.65") == ['"', ","]
    # a range already given to speaker 1 is not offered to speaker 2
    second = TEXT + '<spk id="1" g="m" t="0.00-4.81"/>\n<spk id="2" g="m" t="'
    assert _next(tok, con, second) == ["3"]
    # the last line: only the end of the list follows
    assert _next(tok, con, second + "3.03-3.65,3.85-10.17") == ['"']
    with torch.no_grad():
        ids = tok.encode(second + "3.03-3.65,")
        scores = torch.zeros(1, 400)
        out = con(torch.tensor([ids]), scores)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [tok.encode("3")[0]]


def test_split_answer_finds_the_line_being_written():
    ranges, cur = _split_answer("<text>\n0.00-1.00>a b\n1.50-2.25>c")
    assert ranges == ["0.00-1.00", "1.50-2.25"] and cur == "1.50-2.25>c"
    assert _split_answer("<text>\n0.00-1.00>a\n</text>\n")[1] is None
    assert _split_answer("no answer yet") == ([], None)


def test_ctc_word_bias_raises_the_tokens_heard_in_the_line(tok):
    blank = 9
    lp = np.full((40, 10), -10.0)
    lp[:, blank] = 0.0
    lp[5, 3] = lp[6, 3] = 0.0  # token 3 around 0.25 s
    lp[5, blank] = lp[6, blank] = -10.0
    lp[30, 4], lp[30, blank] = 0.0, -10.0  # token 4 at 1.5 s
    em = ctc_emissions(lp, 0.05, blank)
    assert em == [(3, 0.25), (4, 1.5)]
    bias = CtcWordBias([em], tok, weight=2.0, margin=0.2)
    assert bias.heard(0, 0.0, 1.0) == [3] and bias.heard(0, 0.0, 1.4) == [3, 4]
    ids = tok.encode("<text>\n0.00-0.80>")
    out = bias(torch.tensor([ids]), torch.zeros(1, 400))
    assert out[0, 3] == 2.0 and out[0, 4] == 0.0 and float(out.abs().sum()) == 2.0
    outside = bias(torch.tensor([tok.encode("<text>\n")]), torch.zeros(1, 400))
    assert float(outside.abs().sum()) == 0.0


def test_repeated_word_block_stops_a_line_looping_and_leaves_times_alone(tok):
    block = RepeatedWordBlock(tok, n=3)
    loop = "<text>\n0.00-4.81>the demo the demo the"
    ids = tok.encode(loop)
    demo = ids[len(tok.encode("<text>\n0.00-4.81>the")):][:len(tok.encode(" demo"))]
    banned = block.banned(ids)
    assert banned == [demo[0]]  # "the demo" followed "demo the" before: not again
    scores = block(torch.tensor([ids]), torch.zeros(1, 400))
    assert scores[0, demo[0]] == float("-inf") and int(torch.isinf(scores).sum()) == 1
    # a new line starts afresh; times, markup and the speaker block are never blocked
    assert block.banned(tok.encode(loop + "\n1.00-1.00>the demo")) == []
    assert block.banned(tok.encode(loop + "\n1.00-1.0")) == []
    assert block.banned(tok.encode(TEXT + '<spk id="1" g="f" t="0.00-4.81,0.00-4.8')) == []
    assert block.banned(tok.encode("<text>\n0.00-4.81>we should we")) == []  # nothing repeats yet
    assert block.banned(tok.encode("<text>\n")) == []
    with pytest.raises(ValueError, match="n must be >= 1"):
        RepeatedWordBlock(tok, n=0)
