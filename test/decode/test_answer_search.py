"""The LLM answer's search helpers: CTC word and time fusion, well-formed times, loop blocking."""

import numpy as np
import pytest
import torch

from espnet_tagspeech.decode.answer_search import (
    AnswerPrefix,
    CtcTimeBias,
    CtcWordBias,
    CtcWordOrderBias,
    RepeatedWordBlock,
    TimeRangeConstraint,
    _feasible,
    _split_answer,
    ctc_emissions,
)

TEXT = "<text>\n0.00-4.81>we should\n3.03-3.65>exactly\n3.85-10.17>we need\n</text>\n<speaker>\n"


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


def _favoured(tok, bias, text):
    return sorted(tok.decode([i]) for i in bias.favoured(0, tok.encode(text)))


def test_ctc_time_bias_spells_the_ctc_lines_times(tok):
    # CTC lines: 0.10-1.50 (3 words), 1.20-2.35 (1 word), 12.40-13.00 (2 words)
    bias = CtcTimeBias([[(1.2, 2.35, 1), (0.1, 1.5, 3), (12.4, 13.0, 2)]], tok, weight=2.5)
    assert _favoured(tok, bias, "<text>\n") == ["0", "1"]  # 0.10, 1.20 or 12.40
    assert _favoured(tok, bias, "<text>\n1") == [".", "2"]
    assert _favoured(tok, bias, "<text>\n0.1") == ["0"]
    assert _favoured(tok, bias, "<text>\n0.10") == ["-"]
    assert _favoured(tok, bias, "<text>\n0.10-") == ["1"]  # the end of the line starting there
    assert _favoured(tok, bias, "<text>\n0.10-1.50") == [">"]
    # a start off the CTC lines takes the nearest one's end, and that line is then used
    assert _favoured(tok, bias, "<text>\n0.00-1.") == ["5"]
    # words: the line break once the line has as many words as its CTC line
    assert _favoured(tok, bias, "<text>\n0.00-1.50>we should") == []
    assert _favoured(tok, bias, "<text>\n0.00-1.50>we should start") == ["\n"]
    # the next start: lines not taken, none before the previous line's start
    assert _favoured(tok, bias, "<text>\n0.00-1.50>a b c\n") == ["1"]
    after = "<text>\n0.10-1.50>a b c\n1.20-2.35>d\n12.40-13.00>e f\n"
    assert _favoured(tok, bias, after) == ["</text>"]  # every CTC line written
    assert _favoured(tok, bias, "<text>\n12.40-13.00>e f\n") == ["</text>"]  # nothing after 12.40
    assert _favoured(tok, bias, after + "</text>\n<speaker>\n") == []  # outside the text block
    ids = tok.encode("<text>\n1")
    two_beams = CtcTimeBias([[(1.2, 2.35, 1), (0.1, 1.5, 3), (12.4, 13.0, 2)]], tok, 2.5, num_beams=2)
    scores = two_beams(torch.tensor([ids, ids]), torch.zeros(2, 400))
    dot, two = tok.encode(".")[0], tok.encode("2")[0]
    assert scores[0, dot] == scores[0, two] == 2.5 and float(scores.sum()) == 10.0


def test_ctc_time_bias_skip_penalty_keeps_the_next_ctc_line_reachable(tok):
    lines = [[(1.2, 2.35, 1), (0.1, 1.5, 3), (12.4, 13.0, 2)]]
    bias = CtcTimeBias(lines, tok, weight=2.5, skip_penalty=6.0)

    def skipped(text):
        return sorted(tok.decode([i]) for i in bias.steer(0, tok.encode(text))[1])

    # the next CTC line is 0.10: a start at 1.20 or 12.40 (digit "1") and closing the block pass it
    assert skipped("<text>\n") == ["1", "</text>"]
    assert _favoured(tok, bias, "<text>\n") == ["0", "1"]  # the bonus is as without the penalty
    # after 0.10 the next is 1.20: 12.40 shares its "1" and parts at the second digit
    assert skipped("<text>\n0.10-1.50>a b c\n") == ["</text>"]
    assert skipped("<text>\n0.10-1.50>a b c\n1") == ["2"]
    # once a start has passed it (1.9 written), nothing is held back: the rest as before
    assert skipped("<text>\n0.10-1.50>a b c\n1.9") == []
    assert skipped("<text>\n0.10-1.50>a b c\n1.20-2.") == []  # ends and words are not touched
    after = "<text>\n0.10-1.50>a b c\n1.20-2.35>d\n12.40-13.00>e f\n"
    assert skipped(after) == []  # every CTC line written: closing is favoured, not penalised
    ids = tok.encode("<text>\n")
    scores = bias(torch.tensor([ids]), torch.zeros(1, 400))
    zero, one, close = (tok.encode(c)[0] for c in ("0", "1", "</text>"))
    assert scores[0, zero] == 2.5 and scores[0, one] == 2.5 - 6.0 and scores[0, close] == -6.0
    plain = CtcTimeBias(lines, tok, weight=2.5)  # off by default
    assert plain.steer(0, ids)[1] == [] and float(plain(torch.tensor([ids]), torch.zeros(1, 400)).min()) == 0.0


def test_ctc_time_bias_needs_single_token_symbols(tok):
    class Splitting:
        def encode(self, text):
            return [1, 2] if text == ">" else [1]

    with pytest.raises(ValueError, match="CTC time bias: the tokenizer splits '>'"):
        CtcTimeBias([[]], Splitting(), 1.0)


def test_feasible_prefixes_of_a_time_range():
    assert _feasible("", 0, 500) and not _feasible("", 10, 5)
    assert _feasible("1", 150, 1234)  # 1.xx or 10.xx-12.34
    assert not _feasible("2", 300, 1234)  # 2.xx too early, 20.xx too late
    assert _feasible("1", 1000, 1234) and not _feasible("13", 1000, 1234)
    assert not _feasible("05", 0, 1000) and not _feasible(".5", 0, 1000) and not _feasible("1.234", 0, 1000)
    assert _feasible("2.7", 278, 500) and not _feasible("2.7", 280, 500)
    assert _feasible("2.78", 278, 278) and not _feasible("2.77", 278, 500)
    assert not _feasible("2.7a", 0, 1000)


def _ok(tok, con, text, item=0):
    allowed = con.allowed(item, tok.encode(text))
    return None if allowed is None else sorted(tok.decode([i]) for i in allowed)


def test_time_range_constraint_keeps_line_times_ordered_and_inside_the_input(tok):
    con = TimeRangeConstraint([6.5, 12.0], tok)
    # a line's first token: a time from 0 to 6.49, or the end of the block
    assert _ok(tok, con, "<text>\n") == ["0", "1", "2", "3", "4", "5", "6", "</text>"]
    assert _ok(tok, con, "<text>\n6.") == ["0", "1", "2", "3", "4"]
    assert _ok(tok, con, "<text>\n6.4") == [str(d) for d in range(10)]
    assert _ok(tok, con, "<text>\n0") == ["."]  # no leading zero
    assert _ok(tok, con, "<text>\n2.77") == ["-"]
    # the end: after the start, not after the input (6.50)
    assert _ok(tok, con, "<text>\n2.77-") == ["2", "3", "4", "5", "6"]
    assert _ok(tok, con, "<text>\n2.77-2.7") == ["8", "9"]
    assert _ok(tok, con, "<text>\n2.77-6.5") == ["0"]
    assert _ok(tok, con, "<text>\n2.77-6.50") == [">"]
    # the next start: not before the previous line's
    assert _ok(tok, con, "<text>\n2.77-6.50>we agree\n") == ["2", "3", "4", "5", "6", "</text>"]
    # a second input of 12 s: two-digit seconds are possible
    assert "." in _ok(tok, con, "<text>\n1", item=1) and "1" in _ok(tok, con, "<text>\n1", item=1)
    assert _ok(tok, con, "<text>\n1", item=0) == ["."]
    # words, markup and the speaker block are not touched
    assert con.allowed(0, tok.encode("<text>\n2.77-6.50>we")) is None
    assert con.allowed(0, tok.encode("<text>\n2.77-6.50>we\n</text>\n<speaker>\n")) is None
    ids = tok.encode("<text>\n2.77-2.7")
    scores = con(torch.tensor([ids]), torch.zeros(1, 400))
    assert sorted(torch.isfinite(scores[0]).nonzero().flatten().tolist()) == sorted(tok.encode("8") + tok.encode("9"))


def test_ctc_word_order_bias_follows_the_ctc_line_in_order(tok):
    we, share, the, notes = (tok.encode(w)[0] for w in ("we", " share", " the", " notes"))
    bias = CtcWordOrderBias([[(0.1, [we, share, the, notes]), (3.2, [notes])]], tok, weight=5.0)
    head = "<text>\n0.10-2.00>"
    assert bias.expected(0, tok.encode(head)) == we
    assert bias.expected(0, tok.encode(head + "we share")) == the
    # an inserted token is passed over, a skipped one is allowed
    assert bias.expected(0, tok.encode(head + "we agree share")) == the
    assert bias.expected(0, tok.encode(head + "we the")) == notes
    assert bias.expected(0, tok.encode(head + "we share the notes")) is None  # written out
    # a line starting off every CTC line follows the nearest one
    assert bias.expected(0, tok.encode("<text>\n0.10-2.00>we share the notes\n3.00-4.00>")) == notes
    # times, markup and the speaker block are left alone
    assert bias.expected(0, tok.encode("<text>\n0.10-2.0")) is None
    assert bias.expected(0, tok.encode(head + "we\n</text>\n<speaker>\n")) is None
    assert CtcWordOrderBias([[]], tok, 5.0).expected(0, tok.encode(head)) is None
    ids = tok.encode(head + "we share")
    two_beams = CtcWordOrderBias([[(0.1, [we, share, the, notes])]], tok, weight=5.0, num_beams=2)
    scores = two_beams(torch.tensor([ids, ids]), torch.zeros(2, 400))
    assert scores[0, the] == 5.0 and float(scores.sum()) == 10.0



def test_ctc_word_order_bias_ends_the_line_where_the_ctc_line_ends(tok):
    we, share = (tok.encode(w)[0] for w in ("we", " share"))
    (newline,) = tok.encode("\n")
    bias = CtcWordOrderBias([[(0.1, [we, share]), (3.2, [share])]], tok, weight=5.0, end_weight=7.0)
    head = "<text>\n0.10-2.00>"
    rows = [tok.encode(head + "we"), tok.encode(head + "we share"), tok.encode(head + "we share we"),
            tok.encode("<text>\n0.10-2.0")]
    scores = torch.stack([bias(torch.tensor([r]), torch.zeros(1, 400))[0] for r in rows])  # rows of unequal length
    assert scores[0, share] == 5.0 and float(scores[0].sum()) == 5.0  # still inside the CTC line
    assert scores[1, newline] == 7.0 and float(scores[1].sum()) == 7.0  # written out: end it here
    assert scores[2, newline] == 7.0  # ran on past it: the break is still favoured
    assert float(scores[3].abs().sum()) == 0.0  # writing times: nothing
    off = CtcWordOrderBias([[(0.1, [we, share])]], tok, weight=5.0)
    assert float(off(torch.tensor([rows[1]]), torch.zeros(1, 400)).abs().sum()) == 0.0  # end_weight 0: off


def test_ctc_word_order_bias_skip_penalty_holds_back_jumps_ahead_in_the_line(tok):
    line = [100, 101, 102, 103, 104]  # five distinct word pieces of the tiny tokenizer
    assert not any(c in tok.decode(line) for c in "<>\n0123456789")
    bias = CtcWordOrderBias([[(0.1, line)]], tok, weight=5.0, skip_penalty=4.0)
    head = tok.encode("<text>\n0.10-2.00>")
    assert bias.ahead(line, 1) == [103, 104]  # after the first: the third may be skipped to, not further
    scores = bias(torch.tensor([head + line[:1]]), torch.zeros(1, 400))[0]
    assert scores[101] == 5.0 and scores[102] == 0.0 and scores[103] == scores[104] == -4.0
    scores = bias(torch.tensor([head + line[:3]]), torch.zeros(1, 400))[0]
    assert scores[103] == 5.0 and float(scores.sum()) == 5.0  # nothing past the next two
    # a token also among the next two is never held back (a repeated word)
    assert bias.ahead([100, 101, 100, 104], 0) == [104]
    off = CtcWordOrderBias([[(0.1, line)]], tok, weight=5.0)
    assert float(off(torch.tensor([head + line[:1]]), torch.zeros(1, 400)).min()) == 0.0


def test_answer_prefix_shows_each_row_its_inputs_prefix_and_generated_tokens(tok):
    from espnet_tagspeech.decode.speaker_block import SpeakerBlockConstraint

    seen = []

    def record(input_ids, scores):
        seen.append([input_ids[r].tolist() for r in range(scores.shape[0])])
        scores[:, 0] += 1.0
        return scores

    wrapped = AnswerPrefix([record, record], [[7, 8], []], num_beams=2)
    out = wrapped(torch.tensor([[1], [2], [3], [4]]), torch.zeros(4, 5))
    assert seen == [[[7, 8, 1], [7, 8, 2], [3], [4]]] * 2  # rows input-major, every processor in order
    assert out[:, 0].tolist() == [2.0] * 4
    # a processor that reads the text block finds it in the prefix: after `t="` only its ranges
    prefix = tok.encode(TEXT)
    after = tok.encode('<spk id="1" g="m" t="')
    constraint = SpeakerBlockConstraint(tok)
    vocab = tok.vocab_size
    direct = constraint(torch.tensor([prefix + after]), torch.zeros(1, vocab))
    shown = AnswerPrefix([constraint], [prefix])(torch.tensor([after]), torch.zeros(1, vocab))
    assert torch.equal(torch.isfinite(direct), torch.isfinite(shown))
    assert 0 < int(torch.isfinite(shown).sum()) < vocab  # the first digits of the text block's ranges
    alone = constraint(torch.tensor([after]), torch.zeros(1, vocab))  # without the prefix: no text block
    assert not torch.equal(torch.isfinite(alone), torch.isfinite(shown))
