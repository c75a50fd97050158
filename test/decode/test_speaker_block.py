"""The speaker block's search helpers: the range-list constraint and the speaker stream's voice fusion."""

from collections import Counter

import numpy as np
import pytest
import torch

from espnet_tagspeech.decode.speaker_block import SpeakerBlockConstraint, SpeakerVoiceBias, fitting, range_list

TEXT = "<text>\n0.00-4.81>we should\n3.03-3.65>exactly\n3.85-10.17>we need\n</text>\n<speaker>\n"


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


def test_every_line_keeps_the_speaker_block_open_until_each_line_has_a_speaker(tok):
    close = tok.encode("</speaker>")[0]
    one = TEXT + '<spk id="1" g="m" t="0.00-4.81,3.85-10.17"/>\n'
    assert SpeakerBlockConstraint(tok).banned(tok.encode(one)) == []  # default: may close
    con = SpeakerBlockConstraint(tok, every_line=True)
    assert con.banned(tok.encode(one)) == [close]  # 3.03-3.65 has no speaker yet
    scores = con(torch.tensor([tok.encode(one)]), torch.zeros(1, 400))
    assert scores[0, close] == float("-inf") and int(torch.isinf(scores).sum()) == 1
    done = one + '<spk id="2" g="f" t="3.03-3.65"/>\n'
    assert con.banned(tok.encode(done)) == []
    assert con.banned(tok.encode(TEXT)) == [close]  # an empty block may not close either
    assert con.banned(tok.encode("<text>\n0.00-4.81>we\n")) == []  # no speaker block yet


def test_the_block_closes_once_every_line_has_a_speaker(tok):
    close = tok.encode("</speaker>")[0]
    done = TEXT + '<spk id="1" g="m" t="0.00-4.81,3.85-10.17"/>\n<spk id="2" g="f" t="3.03-3.65"/>\n'
    for con in (SpeakerBlockConstraint(tok), SpeakerBlockConstraint(tok, every_line=True)):
        assert con.must_close(tok.encode(done))
        scores = con(torch.tensor([tok.encode(done)]), torch.zeros(1, 400))
        assert torch.isfinite(scores[0]).nonzero().flatten().tolist() == [close]
        # a line left, or inside an entry: the LLM's choice
        assert not con.must_close(tok.encode(TEXT + '<spk id="1" g="m" t="0.00-4.81,3.85-10.17"/>\n'))
        assert not con.must_close(tok.encode(done[:-1]))
        assert not con.must_close(tok.encode(done + "</speaker>"))
    # no text line: nothing to list
    assert SpeakerBlockConstraint(tok).must_close(tok.encode("<text>\n</text>\n<speaker>\n"))


def test_speakers_are_numbered_in_order(tok):
    con = SpeakerBlockConstraint(tok)
    assert _next(tok, con, TEXT + '<spk id="') == ["1"]
    assert _next(tok, con, TEXT + '<spk id="1') == ['"']
    second = TEXT + '<spk id="1" g="m" t="0.00-4.81"/>\n<spk id="'
    assert _next(tok, con, second) == ["2"]  # not "1" again, nor "3"
    assert con.allowed(tok.encode(second + '2" g="')) is None  # the gender is the LLM's
    assert con.next_id(tok.encode("<text>\n</text>\n")) is None  # no speaker block yet


def test_merge_bias_favours_another_range_for_the_same_speaker_while_lines_are_left(tok):
    comma, quote = tok.encode(",")[0], tok.encode('"')[0]
    con = SpeakerBlockConstraint(tok, merge_bias=2.0)
    one = TEXT + '<spk id="1" g="m" t="0.00-4.81'
    scores = con(torch.tensor([tok.encode(one)]), torch.zeros(1, 400))
    assert scores[0, comma] == 2.0 and scores[0, quote] == 0.0
    # the last line given: no other range to add, the list closes unbiased
    last = TEXT + '<spk id="1" g="m" t="0.00-4.81,3.03-3.65,3.85-10.17'
    scores = con(torch.tensor([tok.encode(last)]), torch.zeros(1, 400))
    assert torch.isfinite(scores[0]).nonzero().flatten().tolist() == [quote] and scores[0, quote] == 0.0
    # off by default
    scores = SpeakerBlockConstraint(tok)(torch.tensor([tok.encode(one)]), torch.zeros(1, 400))
    assert scores[0, comma] == 0.0


def test_max_overlap_keeps_two_overlapping_lines_off_one_speaker(tok):
    con = SpeakerBlockConstraint(tok, max_overlap=0.5)
    # 0.00-4.81 overlaps 3.03-3.65 by 0.62 s and 3.85-10.17 by 0.96 s: its speaker takes neither
    assert _next(tok, con, TEXT + '<spk id="1" g="m" t="0.00-4.81') == ['"']
    # 3.03-3.65 and 3.85-10.17 do not overlap: one speaker may hold both, but not 0.00-4.81
    one = TEXT + '<spk id="1" g="m" t="3.03-3.65'
    assert _next(tok, con, one) == ['"', ","]
    assert _next(tok, con, one + ",") == ["3"]
    # a new speaker may take any line left
    assert _next(tok, con, TEXT + '<spk id="1" g="m" t="3.03-3.65"/>\n<spk id="2" g="m" t="') == ["0", "3"]
    # a larger limit lets the 0.62-s overlap through, not the 0.96-s one
    loose = SpeakerBlockConstraint(tok, max_overlap=0.7)
    assert _next(tok, loose, TEXT + '<spk id="1" g="m" t="0.00-4.81,') == ["3"]
    assert _next(tok, loose, TEXT + '<spk id="1" g="m" t="0.00-4.81,3.') == ["0"]
    # no limit (the default): all three may go to one speaker
    assert _next(tok, SpeakerBlockConstraint(tok), TEXT + '<spk id="1" g="m" t="0.00-4.81,3.') == ["0", "8"]


def test_fitting_keeps_the_ranges_a_speaker_may_still_take():
    left = Counter({"0.00-4.81": 1, "3.03-3.65": 2, "5.00-6.00": 0})
    assert fitting(left, [], 0.0) == Counter({"0.00-4.81": 1, "3.03-3.65": 2})
    assert fitting(left, ["4.50-7.00"], None) == Counter({"0.00-4.81": 1, "3.03-3.65": 2})
    assert fitting(left, ["4.50-7.00"], 0.2) == Counter({"3.03-3.65": 2})  # 0.31 s of overlap
    assert fitting(left, ["4.50-7.00"], 0.31) == Counter({"0.00-4.81": 1, "3.03-3.65": 2})  # at the limit


def test_range_list_reads_where_the_answer_is_in_a_speakers_list():
    assert range_list(TEXT) is None  # no list opened
    assert range_list(TEXT + '<spk id="1" g="m" t="0.00-4.81"/>\n') is None  # list closed
    state = range_list(TEXT + '<spk id="1" g="m" t="0.00-4.81"/>\n<spk id="2" g="f" t="3.03-3.65,3.8')
    assert state.ranges == ["0.00-4.81", "3.03-3.65", "3.85-10.17"]
    assert state.items == ["3.03-3.65"] and state.part == "3.8"
    assert state.listed == Counter({"0.00-4.81": 1, "3.03-3.65": 1})


def _voices(shift=0.04):
    """Frames of two voices: A over 0-3.03 s and 3.65-10.2 s, B over 3.03-3.65 s (line 2)."""
    rng = np.random.default_rng(0)
    t = (np.arange(int(10.2 / shift)) + 0.5) * shift  # frame centres
    frames = np.tile([1.0, 0.0, 0.2, 0.0], (len(t), 1))
    frames[(t >= 3.03) & (t < 3.65)] = [0.0, 1.0, 0.0, 0.2]
    return frames + 0.01 * rng.standard_normal(frames.shape)


def test_voice_bias_keeps_a_voice_s_lines_together_and_other_voices_apart(tok):
    comma = tok.encode(",")[0]
    bias = SpeakerVoiceBias([_voices()], 0.04, tok, weight=10.0, threshold=0.5)

    def score(text):
        return bias(torch.tensor([tok.encode(text)]), torch.zeros(1, 400))[0]

    # speaker A has line 1: line 3 (A's voice, similarity ~1) is left: another range is favoured
    a = score(TEXT + '<spk id="1" g="m" t="0.00-4.81')
    assert a[comma] > 4.0
    # which range: the digit that spells A's line 3 beats the one of B's line 2
    s = score(TEXT + '<spk id="1" g="m" t="0.00-4.81,3.')
    eight, zero = tok.encode("8")[0], tok.encode("0")[0]
    assert s[eight] > 4.0 and s[zero] < s[eight] - 4.0
    # speaker B has line 2: both lines left are A's, another range is penalised
    b = score(TEXT + '<spk id="1" g="f" t="3.03-3.65')
    assert b[comma] < -3.0
    # a speaker's first range is the LLM's choice alone, and nothing outside a list moves
    assert not score(TEXT + '<spk id="1" g="m" t="').any()
    assert not score(TEXT + '<spk id="1" g="m" t="0.').any()
    assert not score(TEXT).any()


def test_voice_bias_weighs_only_the_lines_the_speaker_may_take(tok):
    comma = tok.encode(",")[0]
    text = TEXT + '<spk id="1" g="m" t="0.00-4.81'
    free = SpeakerVoiceBias([_voices()], 0.04, tok, weight=10.0, threshold=0.5)
    assert free(torch.tensor([tok.encode(text)]), torch.zeros(1, 400))[0, comma] > 4.0
    # line 3 sounds like speaker 1 but overlaps its line by 0.96 s: with a 0.5-s limit it is not
    # weighed, nor is line 2 (0.62 s): nothing is left to favour
    held = SpeakerVoiceBias([_voices()], 0.04, tok, weight=10.0, threshold=0.5, max_overlap=0.5)
    assert not held(torch.tensor([tok.encode(text)]), torch.zeros(1, 400))[0].any()
    # a 0.7-s limit leaves line 2 only (B's voice): another range is penalised
    some = SpeakerVoiceBias([_voices()], 0.04, tok, weight=10.0, threshold=0.5, max_overlap=0.7)
    assert some(torch.tensor([tok.encode(text)]), torch.zeros(1, 400))[0, comma] < -3.0


def test_voice_bias_takes_its_prints_from_an_embed_function(tok):
    comma = tok.encode(",")[0]
    asked = []

    def embed(item, spans):  # voice A before 3.03 s and after 3.65 s, B in between
        asked.append((item, spans))
        mid = sum((s + e) / 2 for s, e in spans) / len(spans)
        return np.array([0.0, 1.0]) if 3.03 <= mid < 3.65 else np.array([1.0, 0.1])

    bias = SpeakerVoiceBias(None, 0.04, tok, weight=10.0, threshold=0.5, embed=embed)
    out = bias(torch.tensor([tok.encode(TEXT + '<spk id="1" g="m" t="0.00-4.81')]), torch.zeros(1, 400))[0]
    assert out[comma] > 4.0  # line 3 sounds like line 1
    out = bias(torch.tensor([tok.encode(TEXT + '<spk id="1" g="f" t="3.03-3.65')]), torch.zeros(1, 400))[0]
    assert out[comma] < -3.0  # B's line: both lines left are A's
    # each line printed once per answer, where it talks alone (line 1 without lines 2 and 3)
    assert asked[0] == (0, [(0.0, 3.03), (3.65, 3.85)]) and len(asked) == 3
    with pytest.raises(ValueError, match="frames or an embed function"):
        SpeakerVoiceBias(None, 0.04, tok, weight=10.0, threshold=0.5)


def test_voice_bias_uses_a_line_s_voice_where_it_talks_alone(tok):
    bias = SpeakerVoiceBias([_voices()], 0.04, tok, weight=1.0, threshold=0.0)
    prints = bias.prints(0, ["0.00-4.81", "3.03-3.65", "3.85-10.17"])
    # line 1 spans B's 0.6 s too, but B's stretch is line 2's: line 1 sounds like line 3
    assert prints["0.00-4.81"] @ prints["3.85-10.17"] > 0.99
    assert prints["0.00-4.81"] @ prints["3.03-3.65"] < 0.5
    # a line spoken over entirely (under 0.3 s alone) falls back to its whole span
    prints = bias.prints(0, ["0.00-4.81", "3.03-3.65", "3.85-10.17", "5.00-5.20"])
    assert prints["5.00-5.20"] @ prints["3.85-10.17"] > 0.99


def test_voice_bias_rows_read_their_own_input(tok):
    other = _voices()  # input 2: B from line 2 on, so line 3 sounds like line 2
    other[int(3.03 / 0.04):] = other[int(3.2 / 0.04)]
    bias = SpeakerVoiceBias([_voices(), other], 0.04, tok, weight=10.0, threshold=0.5, num_beams=2)
    text = TEXT + '<spk id="1" g="f" t="3.03-3.65'
    ids = torch.tensor([tok.encode(text)] * 4)
    out = bias(ids, torch.zeros(4, 400))
    comma = tok.encode(",")[0]
    assert out[0, comma] < -3.0 and out[1, comma] < -3.0  # rows 0-1: input 0, line 2 is B
    assert out[2, comma] > 4.0 and out[3, comma] > 4.0  # rows 2-3: input 1, line 3 is B too



def test_voice_bias_weighs_lines_against_the_recording_s_voices(tok):
    comma = tok.encode(",")[0]

    def embed(item, spans):  # lines 1 and 3 sound alike, but line 1 is nearer voice A, line 3 nearer B
        mid = sum((s + e) / 2 for s, e in spans) / len(spans)
        if mid < 3.03:
            return np.array([0.8, 0.6, 0.0])
        return np.array([0.0, 1.0, 0.0]) if mid < 3.65 else np.array([0.6, 0.8, 0.0])

    def comma_score(voices, listed):
        bias = SpeakerVoiceBias(None, 0.04, tok, weight=10.0, threshold=0.5, embed=embed, voices=voices)
        text = TEXT + f'<spk id="1" g="m" t="{listed}'
        return float(bias(torch.tensor([tok.encode(text)]), torch.zeros(1, 400))[0, comma])

    two = [np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])]  # A and B (prints need not be unit)
    # line to line, line 3 sounds like line 1 (cosine 0.96): another range is favoured
    assert comma_score(None, "0.00-4.81") == pytest.approx(10 * (0.96 - 0.5))
    # against the recording's voices, line 1's speaker is A and both lines left are nearer B
    assert comma_score(two, "0.00-4.81") == pytest.approx(10 * (0.6 - 0.8))
    # line 2's speaker is B: line 3 is nearer B by 0.2 (line 1 nearer A): favoured
    assert comma_score(two, "3.03-3.65") == pytest.approx(10 * (0.8 - 0.6))
    # a recording with one voice known (or none) leaves the line-to-line comparison
    assert comma_score([np.array([[1.0, 0.0, 0.0]])], "0.00-4.81") == comma_score(None, "0.00-4.81")
    assert comma_score([None], "0.00-4.81") == comma_score(None, "0.00-4.81")
