"""Word metrics (meeteval) on hand cases."""

import pytest

from espnet_tagspeech.data.turn import Turn, Word
from espnet_tagspeech.scoring.wer import WerCounts, score_words


def T(spk, s, e, text, rec="r"):
    return Turn.from_text(rec, spk, s, e, text)


def rates(scores):
    return {m: c.rate for m, c in scores.overall.items()}


def test_speaker_permutation_is_free():
    ref = [T("A", 0, 2, "a b c"), T("B", 3, 5, "d e")]
    hyp = [T("X", 3, 5, "d e"), T("Y", 0, 2, "a b c")]
    s = score_words(ref, hyp)
    assert rates(s) == {"cpwer": 0.0, "orcwer": 0.0, "tcpwer": 0.0, "wer": 0.0}
    assert s.speaker_counts == {"r": (2, 2)}
    assert s.speaker_count_accuracy == 100.0


def test_more_hypothesis_than_reference_speakers():
    ref = [T("A", 0, 2, "a b"), T("A", 2, 4, "c d")]
    hyp = [T("X", 0, 2, "a b"), T("Y", 2, 4, "c d")]
    s = score_words(ref, hyp)
    cp = s.overall["cpwer"]
    # One reference stream against two: the unmatched half is deleted, the extra speaker inserted.
    assert (cp.errors, cp.length, cp.deletions, cp.insertions) == (4, 4, 2, 2)
    assert s.overall["orcwer"].rate == 0.0  # each segment may go to any stream
    assert s.overall["wer"].rate == 0.0  # speaker-agnostic concatenation is perfect
    assert s.speaker_counts == {"r": (1, 2)}
    assert s.speaker_count_accuracy == 0.0
    assert s.speaker_count_mae == 1.0


def test_substitution_and_deletion_counts():
    ref = [T("A", 0, 2, "hello world"), T("B", 2, 4, "foo bar baz")]
    hyp = [T("1", 0, 2, "hello word"), T("2", 2, 4, "foo baz")]
    s = score_words(ref, hyp)
    cp = s.overall["cpwer"]
    assert (cp.substitutions, cp.deletions, cp.insertions, cp.length) == (1, 1, 0, 5)
    assert cp.rate == pytest.approx(40.0)


def test_tcpwer_collar():
    ref = [T("A", 0, 1, "a b")]
    hyp = [T("X", 10, 11, "a b")]
    assert rates(score_words(ref, hyp, collar=5.0))["tcpwer"] == pytest.approx(200.0)
    assert rates(score_words(ref, hyp, collar=5.0))["cpwer"] == 0.0
    assert rates(score_words(ref, hyp, collar=10.0))["tcpwer"] == 0.0


def test_word_times_are_used_when_present():
    words = (Word("a", 0.0, 0.5), Word("b", 20.0, 20.5))
    ref = [Turn("r", "A", 0.0, 20.5, words)]
    hyp = [Turn("r", "X", 0.0, 20.5, (Word("a", 0.0, 0.5), Word("b", 0.0, 0.5)))]
    # With word times "b" is 19.5 s away: outside a 5 s collar.
    s = score_words(ref, hyp, collar=5.0)
    assert s.overall["tcpwer"].errors == 2
    assert s.overall["cpwer"].errors == 0


def test_missing_hypothesis_recording_is_all_deletions_and_hyp_only_ignored():
    ref = [T("A", 0, 2, "a b", rec="r1"), T("A", 0, 2, "c d e", rec="r2")]
    hyp = [T("X", 0, 2, "a b", rec="r1"), T("X", 0, 2, "z", rec="extra")]
    s = score_words(ref, hyp)
    assert s.per_recording["r2"]["cpwer"].deletions == 3
    assert s.overall["cpwer"].rate == pytest.approx(60.0)
    assert s.hyp_only == ["extra"]
    assert s.speaker_counts["r2"] == (1, 0)


def test_counts_add_and_rate_edge_cases():
    c = WerCounts(1, 4, 1, 0, 0) + WerCounts(2, 6, 0, 1, 1)
    assert (c.errors, c.length) == (3, 10)
    assert c.rate == pytest.approx(30.0)
    assert WerCounts().rate == 0.0
    assert WerCounts(errors=2, insertions=2).rate == 100.0
    with pytest.raises(ValueError):
        score_words([], [])
