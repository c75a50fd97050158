"""Overlapped-word WER on hand-made recordings with known error counts."""

import math

import pytest

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import write_ctm
from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.scoring.overlap import (
    NON_OVERLAPPED,
    OVERLAPPED,
    ReferenceTurns,
    align_indices,
    count_by_class,
    ctm_word_turns,
    score_overlap_wer,
    word_level_turns,
)
from espnet_tagspeech.scoring.wer import score_words

# Speaker A talks in [0, 4), B in [2, 6): overlap in [2, 4).
# Reference stream (turn order): alpha bravo charlie delta | echo foxtrot golf
# classes:                       N     N     O       O       O    N       N
REF = [
    Turn("r", "A", 0.0, 4.0, (Word("alpha", 0.0, 0.8), Word("bravo", 1.0, 1.8),
                              Word("charlie", 2.1, 2.9), Word("delta", 3.0, 3.8))),
    Turn("r", "B", 2.0, 6.0, (Word("echo", 2.2, 3.0), Word("foxtrot", 4.2, 5.0),
                              Word("golf", 5.0, 5.8))),
]


def hyp(a_text, b_text, rec="r"):
    return [Turn.from_text(rec, "X", 0.0, 4.0, a_text), Turn.from_text(rec, "Y", 2.0, 6.0, b_text)]


def counts(scores, cls):
    c = scores.overall[cls]
    return c.length, c.substitutions, c.deletions, c.insertions


def test_perfect_hypothesis_has_no_errors_in_either_class():
    s = score_overlap_wer(REF, REF, hyp("alpha bravo charlie delta", "echo foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 0, 0, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 0)
    assert s.ovl_wer == 0.0 and s.nonovl_wer == 0.0
    # lines are put in time order whatever their order in the file
    rev = score_overlap_wer(REF, REF, list(reversed(hyp("alpha bravo charlie delta", "echo foxtrot golf"))))
    assert rev.ovl_wer == 0.0 and rev.nonovl_wer == 0.0


def test_overlapped_word_deleted():
    s = score_overlap_wer(REF, REF, hyp("alpha bravo charlie delta", "foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 0, 1, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 0)
    assert s.ovl_wer == pytest.approx(100 / 3)
    assert s.nonovl_wer == 0.0


def test_overlapped_word_substituted():
    s = score_overlap_wer(REF, REF, hyp("alpha bravo charlie delta", "zulu foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 1, 0, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 0)


def test_insertion_takes_the_class_of_the_reference_word_before_it():
    # "uh" after charlie (overlapped) -> overlapped insertion
    s = score_overlap_wer(REF, REF, hyp("alpha bravo charlie uh delta", "echo foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 0, 0, 1)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 0)
    # "uh" after bravo (not overlapped), just before the overlap -> non-overlapped insertion
    s = score_overlap_wer(REF, REF, hyp("alpha bravo uh charlie delta", "echo foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 0, 0, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 1)
    assert s.nonovl_wer == pytest.approx(25.0)


def test_insertions_at_the_start_take_the_first_reference_words_class():
    s = score_overlap_wer(REF, REF, hyp("uh um alpha bravo charlie delta", "echo foxtrot golf"))
    assert counts(s, NON_OVERLAPPED) == (4, 0, 0, 2)
    by_class = count_by_class(["x", "y"], ["uh", "x", "y"], [True, False])
    assert by_class[OVERLAPPED].insertions == 1 and by_class[NON_OVERLAPPED].insertions == 0


def test_deletion_and_trailing_insertion_count_for_their_own_classes():
    # ref a b c d with b, c overlapped; hyp a c d y: b deleted (overlapped), y inserted after d
    by_class = count_by_class(["a", "b", "c", "d"], ["a", "c", "d", "y"], [False, True, True, False])
    o, n = by_class[OVERLAPPED], by_class[NON_OVERLAPPED]
    assert (o.length, o.substitutions, o.deletions, o.insertions) == (2, 0, 1, 0)
    assert (n.length, n.substitutions, n.deletions, n.insertions) == (2, 0, 0, 1)
    with pytest.raises(ValueError, match="overlap flags"):
        count_by_class(["a"], [], [])


def test_missing_hypothesis_is_all_deletions_and_other_recordings_are_ignored():
    s = score_overlap_wer(REF, REF, hyp("alpha", "golf", rec="other"))
    assert counts(s, OVERLAPPED) == (3, 0, 3, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 0, 4, 0)
    assert list(s.per_recording) == ["r"]


def test_recording_without_reference_words():
    # r2 has no reference words at all: its hypothesis words are non-overlapped insertions
    s = score_overlap_wer(REF, REF, hyp("alpha bravo charlie delta", "echo foxtrot golf")
                          + [Turn.from_text("r2", "X", 0, 1, "hello there")], recordings=["r", "r2"])
    assert s.per_recording["r2"][NON_OVERLAPPED].insertions == 2
    assert s.per_recording["r2"][OVERLAPPED].length == 0
    assert s.overall[NON_OVERLAPPED].errors == 2
    only_r2 = score_overlap_wer(REF, REF, [], recordings=["r2"])
    assert math.isnan(only_r2.ovl_wer) and math.isnan(only_r2.nonovl_wer)


def test_classes_add_up_to_the_speaker_agnostic_wer():
    # bravo -> uh and echo -> zulu substituted, a second golf inserted
    h = hyp("alpha uh charlie delta", "zulu foxtrot golf golf")
    s = score_overlap_wer(REF, REF, h)
    assert counts(s, OVERLAPPED) == (3, 1, 0, 0)
    assert counts(s, NON_OVERLAPPED) == (4, 1, 0, 1)
    total = s.overall[OVERLAPPED] + s.overall[NON_OVERLAPPED]
    ref_text = [Turn.from_text("r", t.speaker, t.start, t.end, t.text) for t in REF]
    assert total.errors == score_words(ref_text, h, metrics=("wer",)).overall["wer"].errors == 3


def test_active_speakers_merge_one_speakers_turns_and_are_half_open():
    rt = ReferenceTurns([Turn("r", "A", 0, 4), Turn("r", "A", 1, 3), Turn("r", "B", 4, 6)])
    assert rt.count("r", 2.0) == 1  # A twice is still one speaker
    assert rt.count("r", 4.0) == 1  # A has ended at 4, B starts
    assert rt.count("r", 6.0) == 0 and rt.count("nope", 1.0) == 0
    assert not rt.overlapped("r", Word("w", 3.8, 4.2))  # midpoint 4.0: only B
    assert rt.turn_of("r", "A", 3.5) == (0, 4)
    assert rt.turn_of("r", "A", 2.0) == (1, 3)  # the latest-starting containing turn
    assert rt.turn_of("r", "B", 3.0) is None


def test_align_indices_is_robust_to_any_word():
    # words that look like epsilon symbols are ordinary words
    ref, hyp_words = ["-1", "*"], ["*", "-1", "x"]
    pairs = align_indices(ref, hyp_words)
    assert [i for i, _ in pairs if i is not None] == [0, 1]
    assert [j for _, j in pairs if j is not None] == [0, 1, 2]
    errors = sum(1 for i, j in pairs if i is None or j is None or ref[i] != hyp_words[j])
    assert errors == 2  # the edit distance: insert "*", keep "-1", substitute "*" -> "x"
    assert align_indices([], ["a"]) == [(None, 0)]
    assert align_indices(["a"], []) == [(0, None)]


def test_word_times_from_ctm_and_word_level_seglst(tmp_path):
    ctm = tmp_path / "words.ctm"
    write_ctm(ctm, REF)
    words = ctm_word_turns(ctm)
    assert len(words) == 7 and {t.speaker for t in words} == {"A", "B"}
    assert words[0].words[0] == Word("alpha", 0.0, 0.8)
    s = score_overlap_wer(words, REF, hyp("alpha bravo charlie delta", "foxtrot golf"))
    assert counts(s, OVERLAPPED) == (3, 0, 1, 0)

    turn_level = [Turn.from_text("r", "A", 0, 4, "alpha bravo"), Turn.from_text("r", "B", 2, 6, "echo")]
    assert word_level_turns(turn_level) is None  # no word times
    assert word_level_turns([]) is None
    one_word = word_level_turns([Turn.from_text("r", "A", 0, 1, "alpha"), Turn("r", "B", 1, 2),
                                 Turn.from_text("r", "B", 2, 3, "echo")])
    assert [t.words[0] for t in one_word] == [Word("alpha", 0, 1), Word("echo", 2, 3)]

    bad = tmp_path / "bad.ctm"
    bad.write_text("r A 0.0 0.5 alpha\nr A zero 0.5 bravo\n")
    with pytest.raises(DataFormatError, match=f"{bad}:2"):
        ctm_word_turns(bad)
    with pytest.raises(ValueError, match="no times"):
        score_overlap_wer(turn_level, REF, [])
