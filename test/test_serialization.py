"""Tests of the TagSpeech target format (espnet_tagspeech/serialization.py)."""

import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.serialization import (
    TargetFormatError,
    answer_text_block,
    line_to_target,
    parse,
    serialize,
    target_to_line,
)

PAPER_EXAMPLE = """<text>
0.00-1.21>UH NO THAT'S OKAY SORRY
0.96-2.13>OKAY UM
</text>
<speaker>
<spk id="1" g="f" t="0.00-1.21"/>
<spk id="2" g="f" t="0.96-2.13"/>
</speaker>"""


def test_paper_example_is_reproduced_exactly():
    turns = [
        Turn.from_text("ES2004a", "FEE013", 10.96, 12.13, "OKAY UM", "f"),
        Turn.from_text("ES2004a", "MEE014", 10.0, 11.21, "UH NO THAT'S OKAY SORRY", "f"),
    ]
    assert serialize(turns, offset=10.0) == PAPER_EXAMPLE


def test_answer_text_block_is_kept_through_its_closing_line():
    block = PAPER_EXAMPLE.split("<speaker>")[0]
    assert answer_text_block(PAPER_EXAMPLE) == block
    assert answer_text_block(block + "<spe") == block  # an answer cut short in the speaker block
    assert answer_text_block("<text>\n0.00-1.21>UH NO") is None  # the text block never closed
    assert answer_text_block("noise </text>") is None
    assert answer_text_block("") is None


def test_merged_ranges_and_first_appearance_numbering():
    turns = [
        Turn.from_text("r", "zed", 0.5, 1.0, "a"),
        Turn.from_text("r", "amy", 1.0, 2.0, "b", "f"),
        Turn.from_text("r", "zed", 1.0, 1.5, "c", "m"),  # touches: merged with 0.5-1.0
        Turn.from_text("r", "zed", 3.0, 4.0, "d"),
    ]
    out = serialize(turns)
    assert '<spk id="1" g="m" t="0.50-1.50,3.00-4.00"/>' in out
    assert '<spk id="2" g="f" t="1.00-2.00"/>' in out
    # equal start: longer-ending line later; lines sorted by start
    body = out.split("\n")[1:5]
    assert body == ["0.50-1.00>a", "1.00-1.50>c", "1.00-2.00>b", "3.00-4.00>d"]


def test_parse_recovers_speakers_and_offset():
    res = parse(PAPER_EXAMPLE, recording="cut7", offset=100.0, strict=True)
    assert [(t.speaker, t.start, t.end, t.text) for t in res.turns] == [
        ("1", 100.0, 101.21, "UH NO THAT'S OKAY SORRY"),
        ("2", 100.96, 102.13, "OKAY UM"),
    ]
    assert all(t.recording == "cut7" and t.gender == "f" for t in res.turns)
    assert [(t.speaker, t.start, t.end) for t in res.speaker_turns] == [
        ("1", 100.0, 101.21),
        ("2", 100.96, 102.13),
    ]
    assert res.warnings == []
    assert res.speaker_text() == {"1": "UH NO THAT'S OKAY SORRY", "2": "OKAY UM"}


def test_ambiguous_identical_spans_resolved_by_coverage():
    # Speaker A speaks 0-1, 1-3, 3-4 (merged 0-4); B speaks exactly 1-3.
    turns = [
        Turn.from_text("r", "A", 0, 1, "one"),
        Turn.from_text("r", "A", 1, 3, "two"),
        Turn.from_text("r", "A", 3, 4, "three"),
        Turn.from_text("r", "B", 1, 3, "bee"),
    ]
    res = parse(serialize(turns), strict=True)
    got = sorted((t.speaker, t.start, t.text) for t in res.turns)
    assert got == [("1", 0.0, "one"), ("1", 1.0, "two"), ("1", 3.0, "three"), ("2", 1.0, "bee")]


def test_escaping_for_kaldi_text():
    line = target_to_line(PAPER_EXAMPLE)
    assert "\n" not in line and line_to_target(line) == PAPER_EXAMPLE


def test_serialize_rejects_reserved_characters_and_times_before_cut():
    with pytest.raises(ValueError, match="reserved"):
        serialize([Turn.from_text("r", "a", 0, 1, "a<b")])
    with pytest.raises(ValueError, match="before the cut"):
        serialize([Turn.from_text("r", "a", 0, 1, "x")], offset=0.5)


def test_empty_cut():
    out = serialize([])
    res = parse(out, strict=True)
    assert res.turns == [] and res.speaker_turns == [] and res.warnings == []


# ----------------------------------------------------------------------------- round trip

WORD = st.from_regex(r"[a-z][a-z']{0,7}", fullmatch=True)


@st.composite
def cuts(draw):
    """Random valid cuts: each speaker's own turns do not overlap; 0.01 s grid."""
    n_spk = draw(st.integers(1, 5))
    turns = []
    for k in range(n_spk):
        gender = draw(st.sampled_from("mfu"))
        t = draw(st.integers(0, 300))
        for _ in range(draw(st.integers(1, 4))):
            dur = draw(st.integers(1, 400))
            words = draw(st.lists(WORD, min_size=0, max_size=5))
            turns.append(Turn.from_text("c", f"spk{k}", t / 100, (t + dur) / 100, " ".join(words), gender))
            t += dur + draw(st.integers(0, 200))
    return turns


def _canon(turns, numbering):
    return Counter(
        (numbering[t.speaker], round(t.start, 2), round(t.end, 2), t.text) for t in turns
    )


@settings(max_examples=300, deadline=None)
@given(cuts(), st.integers(0, 5000))
def test_round_trip_is_exact(turns, offset_cs):
    offset = offset_cs / 100
    shifted = [t.shifted(offset) for t in turns]
    target = serialize(shifted, offset=offset)
    res = parse(target, recording="c", offset=offset, strict=True)
    assert res.warnings == []
    # speakers are renumbered by first appearance in the serialized order
    order = {}
    for line_turn in sorted(turns, key=lambda t: (t.start, t.end, t.speaker)):
        order.setdefault(line_turn.speaker, str(len(order) + 1))
    back = [t.shifted(-offset) for t in res.turns]
    assert _canon(back, {k: k for k in order.values()}) == _canon(turns, order)
    genders = {order[t.speaker]: t.gender for t in turns}
    assert all(t.gender == genders[t.speaker] for t in back)
    # and serializing the parse gives the same string again
    assert serialize(res.turns, offset=offset) == target


# ----------------------------------------------------------------------------- garbage

NOISE = "<>/\"=-.,:0123456789 \nabcxyz'"


def _corrupt(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(s) + 1)
        if op == 0:
            s = s[:i]  # truncated
        elif op == 1:
            s = s[:i] + s[i + rng.randint(1, 10):]
        elif op == 2:
            s = s[:i] + "".join(rng.choice(NOISE) for _ in range(rng.randint(1, 6))) + s[i:]
        elif op == 3:
            lines = s.split("\n")
            rng.shuffle(lines)
            s = "\n".join(lines)
        elif op == 4:
            lines = s.split("\n")
            j = rng.randrange(len(lines))
            lines.insert(j, lines[rng.randrange(len(lines))])
            s = "\n".join(lines)
        elif op == 5:
            s = re.sub(r"\d+\.\d\d", lambda m: rng.choice([m.group(0), "-1.00", "9x.1", "99.99", ""]), s)
        else:
            s = s.replace('id="2"', 'id="7"').replace("</text>", "</txt>")
        if not s:
            break
    return s


def _line_claims(text):
    """Independent reading: every (start, end, words) a text line could claim."""
    claims = []
    for line in text.split("\n"):
        if ">" not in line or "<spk" in line:
            continue
        head, _, body = line.partition(">")
        parts = head.strip().split("-")
        if len(parts) != 2:
            continue
        try:
            s, e = float(parts[0]), float(parts[1])
        except ValueError:
            continue
        claims.append((round(s, 2), round(e, 2), body.split()))
    return claims


def _range_claims(text):
    """Independent reading of every start and end a speaker entry could claim."""
    starts, ends = set(), set()
    for attr in re.findall(r't="([^"]*)"', text):
        for part in attr.split(","):
            a, _, b = part.partition("-")
            try:
                starts.add(round(float(a), 2))
                ends.add(round(float(b), 2))
            except ValueError:
                continue
    return starts, ends


def test_parser_never_raises_on_1000_corruptions():
    rng = random.Random(1234)
    base = []
    for k in range(40):
        turns = []
        for j in range(rng.randint(1, 6)):
            s = rng.randint(0, 2000) / 100
            turns.append(
                Turn.from_text("c", f"s{rng.randint(0, 3)}", s, s + rng.randint(10, 300) / 100,
                               " ".join(rng.choice(["yes", "no", "okay", "we", "go"]) for _ in range(3)))
            )
        base.append(serialize(turns))
    recovered_any = 0
    for n in range(1200):
        text = _corrupt(rng, rng.choice(base))
        res = parse(text)  # must not raise
        claims = _line_claims(text)
        for t in res.turns:
            assert t.start <= t.end
            ok = any(
                abs(s - t.start) < 1e-6 and abs(e - t.end) < 1e-6 and all(w in words for w in t.text.split())
                for s, e, words in claims
            ), (text, t)
            assert ok
        starts, ends = _range_claims(text)
        for t in res.speaker_turns:
            assert round(t.start, 2) in starts and round(t.end, 2) in ends, (text, t)
        recovered_any += bool(res.turns)
    assert recovered_any > 600  # most corruptions still yield something useful


@pytest.mark.parametrize(
    "bad, line, what",
    [
        (PAPER_EXAMPLE.replace("0.96-2.13>", "2.13-0.96>"), 3, "reversed"),
        (PAPER_EXAMPLE.replace('id="2"', 'id="3"'), 7, "out of order"),
        (PAPER_EXAMPLE.replace("</text>\n", ""), 4, "<speaker> before </text>"),
        (PAPER_EXAMPLE.replace("0.96-2.13>OKAY UM", "junk"), 3, "unrecognised"),
        (PAPER_EXAMPLE.rsplit("\n", 1)[0], 7, "incomplete"),
        (PAPER_EXAMPLE.replace('g="f" t="0.96-2.13"', 'g="q" t="0.96-2.13"'), 7, "gender"),
        (PAPER_EXAMPLE.replace('t="0.96-2.13"', 't="0.90-2.13"'), 2, "do not match"),
    ],
)
def test_strict_mode_names_the_first_error(bad, line, what):
    with pytest.raises(TargetFormatError) as ei:
        parse(bad, strict=True)
    assert ei.value.line == line, str(ei.value)
    assert what in str(ei.value)
    assert ei.value.position == sum(len(x) + 1 for x in bad.split("\n")[: line - 1])
    parse(bad)  # lenient mode recovers without raising


def test_diarization_from_block_or_lines():
    from espnet_tagspeech.serialization import parse

    res = parse("<text>\n0.00-1.00>a b\n1.00-2.00>c\n1.50-3.00>d\n</text>\n<speaker>\n"
                '<spk id="1" g="f" t="0.00-2.00"/>\n<spk id="2" g="m" t="1.50-3.00"/>\n</speaker>')
    assert [(t.speaker, t.start, t.end) for t in res.diarization()] == [("1", 0.0, 2.0), ("2", 1.5, 3.0)]
    lines = res.diarization("lines")
    assert [(t.speaker, t.start, t.end) for t in lines] == [("1", 0.0, 1.0), ("1", 1.0, 2.0), ("2", 1.5, 3.0)]
    assert all(t.words == () for t in lines)
    with pytest.raises(ValueError, match="block' or 'lines"):
        res.diarization("speakers")
