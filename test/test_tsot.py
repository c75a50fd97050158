"""Tests of time-ordered serialization (espnet_tagspeech/tsot.py)."""

import pytest

from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.tsot import (
    CHANNEL_CHANGE as CC,
    TURN_END as NL,
    assign_channels,
    deserialize_tsot,
    element_labels,
    lines_to_turns,
    serialize_tsot,
    split_elements,
    tsot_text,
)


def _turn(spk, *words):
    """A turn of ``(text, start, end)`` words."""
    ws = tuple(Word(t, s, e) for t, s, e in words)
    return Turn("cut", spk, ws[0].start, ws[-1].end, ws)


A = _turn("a", ("hello", 0.0, 0.4), ("there", 0.5, 0.9), ("friend", 1.0, 1.4))
B = _turn("b", ("yes", 0.6, 0.8), ("sure", 1.2, 1.5))
C = _turn("a", ("okay", 2.0, 2.3))


def test_channels_lowest_free_then_earliest_free():
    assert assign_channels([A, B, C]) == [0, 1, 0]
    # a third turn while both channels are busy goes to the one that frees first
    D = _turn("c", ("no", 0.7, 0.75))
    assert assign_channels([A, B, D]) == [0, 1, 0]
    assert assign_channels([A, B, D], num_channels=3) == [0, 1, 2]
    # one channel: everything on it (SOT-like)
    assert assign_channels([A, B, C], num_channels=1) == [0, 0, 0]
    with pytest.raises(ValueError, match="num_channels"):
        assign_channels([A], 0)


def test_words_in_start_order_with_channel_changes_and_turn_ends():
    els = serialize_tsot([B, C, A])  # input order does not matter
    assert els == ["hello", "there", CC, "yes", CC, "friend", NL, CC, "sure", NL, CC, "okay", NL]
    assert tsot_text(els) == f"hello there {CC} yes {CC} friend\n{CC} sure\n{CC} okay\n"
    assert split_elements(tsot_text(els)) == els
    # markup a transcript never holds is no word
    assert split_elements(f"a b<text>c {CC} <spk d\\e f\n") == ["a", CC, "f", NL]
    # one channel: words interleave but nothing switches
    assert CC not in serialize_tsot([A, B], num_channels=1)


def test_untimed_words_are_named():
    bad = Turn.from_text("cut7", "spk2", 1.0, 2.0, "no times")
    with pytest.raises(ValueError, match=r"'no'.*spk2.*cut7"):
        serialize_tsot([bad])


def test_round_trip_recovers_overlapping_lines():
    turns = [A, B, C]
    els = serialize_tsot(turns)
    words = {w.text: (w.start, w.end) for t in turns for w in t.words}
    times = [words.get(e, (0.0, 0.0)) for e in els]
    lines = deserialize_tsot(els, times)
    assert [(ln.channel, [w.text for w in ln.words]) for ln in lines] == [
        (0, ["hello", "there", "friend"]), (1, ["yes", "sure"]), (0, ["okay"])
    ]
    assert [(ln.start, ln.end) for ln in lines] == [(0.0, 1.4), (0.6, 1.5), (2.0, 2.3)]
    out = lines_to_turns(lines, "rec", start_pad=0.1, end_pad=0.2, limit=2.4)
    assert [(t.speaker, t.text) for t in out] == [("ch0", "hello there friend"), ("ch1", "yes sure"),
                                                  ("ch0", "okay")]
    assert [x for t in out for x in (t.start, t.end)] == pytest.approx([0.0, 1.6, 0.5, 1.7, 1.9, 2.4])


def test_deserialize_tolerates_odd_sequences():
    els = [NL, CC, CC, CC, "a", NL, NL, "b"]  # empty line ends, extra channel changes, no final end
    times = [(0, 0)] * 4 + [(0.5, 0.6), (0, 0), (0, 0), (1.0, 1.2)]
    lines = deserialize_tsot(els, times)
    assert [(ln.channel, [w.text for w in ln.words]) for ln in lines] == [(1, ["a"]), (1, ["b"])]
    assert deserialize_tsot([], []) == []
    with pytest.raises(ValueError, match="2 elements but 1"):
        deserialize_tsot(["a", "b"], [(0, 1)])


class _SpaceTok:
    """Ids per whitespace piece; a leading space is its own id (like a dummy prefix)."""

    def encode(self, text):
        ids = [100] if text.startswith(" ") else []
        return ids + [len(p) for p in text.split()] if text != NL else [0]


def test_element_labels_encode_words_with_a_space_and_symbols_alone():
    labels, owner = element_labels(["ab", CC, "abc", NL], _SpaceTok())
    assert labels == [100, 2, 4, 100, 3, 0]
    assert owner == [0, 0, 1, 2, 2, 3]


def test_lines_split_where_their_words_pause():
    from espnet_tagspeech.tsot import TsotLine, split_at_gaps

    words = [Word("a", 0.0, 0.2), Word("b", 0.3, 0.5), Word("c", 2.0, 2.2), Word("d", 2.3, 2.4)]
    lines = split_at_gaps([TsotLine(1, words), TsotLine(0, [Word("x", 1.0, 1.1)])], max_gap=1.0)
    assert [(ln.channel, [w.text for w in ln.words]) for ln in lines] == [
        (1, ["a", "b"]), (0, ["x"]), (1, ["c", "d"])
    ]
    # a gap of exactly max_gap does not split
    assert len(split_at_gaps([TsotLine(0, words[:2])], max_gap=0.1)) == 1
