"""DER and JER on hand-computed cases (dscore / md-eval-22 semantics)."""

import pytest

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.diarization import score_diarization
from espnet_tagspeech.scoring.jer import frame_labels
from espnet_tagspeech.scoring.regions import merge_overlapping, speaker_intervals


def T(spk, s, e, rec="rec"):
    return Turn(rec, spk, s, e)


def one(ref, hyp, **kw):
    rep = score_diarization(ref, hyp, **kw)
    assert len(rep.files) == 1
    return rep.files[0]


def test_confusion_and_mapping():
    ref = [T("A", 0, 10), T("B", 10, 20)]
    hyp = [T("X", 0, 12), T("Y", 12, 20)]
    f = one(ref, hyp)
    assert f.mapping == {"A": "X", "B": "Y"}
    assert f.der.scored == pytest.approx(20.0)
    assert f.der.confusion == pytest.approx(2.0)
    assert f.der.missed == pytest.approx(0.0) and f.der.false_alarm == pytest.approx(0.0)
    assert f.der.der == pytest.approx(10.0)


def test_collar_each_side_of_reference_boundaries():
    ref = [T("A", 0, 10), T("B", 10, 20)]
    hyp = [T("X", 0, 12), T("Y", 12, 20)]
    f = one(ref, hyp, collar=0.25)
    # Not scored: [0, .25], [9.75, 10.25], [19.75, 20]; confusion left: [10.25, 12].
    assert f.der.scored == pytest.approx(19.0)
    assert f.der.confusion == pytest.approx(1.75)
    assert f.der.der == pytest.approx(100 * 1.75 / 19)


def test_overlap_scored_and_ignored():
    ref = [T("A", 0, 10), T("B", 6, 15)]
    hyp = [T("X", 0, 15)]
    f = one(ref, hyp)
    # [6, 10]: two ref, one sys -> 4 s missed; [10, 15]: B spoken by X (mapped to A) -> 5 s confusion.
    assert f.mapping == {"A": "X"}
    assert (f.der.scored, f.der.missed, f.der.confusion) == pytest.approx((19.0, 4.0, 5.0))
    assert f.der.der == pytest.approx(100 * 9 / 19)
    g = one(ref, hyp, ignore_overlaps=True)
    assert (g.der.scored, g.der.missed, g.der.confusion) == pytest.approx((11.0, 0.0, 5.0))
    # JER: A-X = 1 - 1000/1500, B-X = 1 - 900/1500; one system speaker goes to A, B scores 100 %.
    assert f.jer.speaker_jers == pytest.approx((100 / 3, 100.0))
    assert f.jer.jer == pytest.approx((100 / 3 + 100) / 2)


def test_reference_speaker_without_system_turns():
    ref = [T("A", 0, 10), T("C", 20, 30)]
    hyp = [T("X", 0, 10)]
    f = one(ref, hyp)
    assert f.der.missed == pytest.approx(10.0)
    assert f.der.der == pytest.approx(50.0)
    assert f.jer.jer == pytest.approx(50.0)
    assert f.mapping == {"A": "X"}


def test_empty_system_output_is_all_miss():
    ref = [T("A", 0, 10), T("B", 5, 20)]
    rep = score_diarization(ref, [])
    f = rep.files[0]
    assert f.der.miss_rate == pytest.approx(100.0)
    assert f.der.der == pytest.approx(100.0)
    assert f.jer.jer == pytest.approx(100.0)
    assert rep.overall.der == pytest.approx(100.0)
    assert any("without system output" in w for w in rep.warnings)


def test_system_only_file_is_reported_not_scored():
    ref = [T("A", 0, 10, "a")]
    hyp = [T("X", 0, 8, "a"), T("Y", 0, 50, "b")]
    rep = score_diarization(ref, hyp)
    assert [f.file_id for f in rep.files] == ["a"]
    assert rep.system_only == ["b"]
    assert any("only in the system output" in w and "b" in w for w in rep.warnings)
    assert rep.overall.der == pytest.approx(20.0)
    assert rep.overall_jer == pytest.approx(20.0)


def test_default_uem_spans_reference_and_system():
    ref = [T("A", 5, 10)]
    hyp = [T("X", 0, 10)]
    # md-eval alone would score only [5, 10]; dscore scores [0, 10]: 5 s false alarm.
    f = one(ref, hyp)
    assert f.der.false_alarm == pytest.approx(5.0)
    assert f.der.der == pytest.approx(100.0)
    g = one(ref, hyp, uem={"rec": (5.0, 10.0)})
    assert g.der.der == pytest.approx(0.0)


def test_uem_trims_and_creates_collared_boundaries():
    ref = [T("A", 0, 10)]
    hyp = [T("X", 0, 9)]
    f = one(ref, hyp, uem={"rec": (2.0, 10.0)}, collar=0.5)
    # A trimmed to [2, 10]: collars [1.5, 2.5] and [9.5, 10.5]; miss [9, 9.5] of scored [2.5, 9.5].
    assert f.der.scored == pytest.approx(7.0)
    assert f.der.missed == pytest.approx(0.5)
    g = one(ref, hyp, uem={"rec": [(0.0, 4.0), (6.0, 10.0)]})
    assert g.der.scored == pytest.approx(8.0)
    assert g.der.missed == pytest.approx(1.0)


def test_uem_skips_recordings_outside_it():
    ref = [T("A", 0, 10, "a"), T("A", 0, 10, "b")]
    rep = score_diarization(ref, [T("X", 0, 10, "a")], uem={"a": (0.0, 10.0)})
    assert [f.file_id for f in rep.files] == ["a"]
    assert any("not in the UEM" in w for w in rep.warnings)


def test_touching_turns_keep_their_collar_but_overlapping_ones_merge():
    touching = [T("A", 0, 5), T("A", 5, 10)]
    f = one(touching, [T("X", 0, 4.8)], collar=0.5)
    assert f.der.scored == pytest.approx(8.0)  # collars at 0, 5 and 10
    assert f.der.missed == pytest.approx(4.0)
    g = one([T("A", 0, 6), T("A", 4, 10)], [T("X", 0, 10)])
    assert g.der.scored == pytest.approx(10.0)
    assert g.der.der == pytest.approx(0.0)
    assert merge_overlapping([[4, 10], [0, 6], [10, 12]]).tolist() == [[0, 10], [10, 12]]


def test_times_are_rounded_to_milliseconds_like_dscore():
    # 10.0004 s is written as 10.000 by dscore before md-eval sees it.
    f = one([T("A", 0, 10.0004)], [T("X", 0, 10)], uem={"rec": (0.0, 20.0)})
    assert f.der.scored == pytest.approx(10.0, abs=1e-12)
    assert f.der.der == pytest.approx(0.0, abs=1e-12)


def test_pooled_overall_der():
    ref = [T("A", 0, 10, "a"), T("A", 0, 30, "b")]
    hyp = [T("X", 0, 5, "a"), T("X", 0, 30, "b")]
    rep = score_diarization(ref, hyp)
    by = rep.by_file()
    assert by["a"].der.der == pytest.approx(50.0)
    assert by["b"].der.der == pytest.approx(0.0)
    assert rep.overall.der == pytest.approx(100 * 5 / 40)  # pooled, not the mean of 50 and 0
    assert rep.overall_jer == pytest.approx(25.0)  # mean over reference speakers


def test_jer_frames_follow_dscore_grid():
    spk = speaker_intervals([T("A", 0.005, 0.015), T("B", 0.02, 0.05)])
    lab = frame_labels(spk, [(0.0, 0.05)], step=0.01)
    # frames at 0.00 .. 0.04: A covers t=0.01; B covers 0.02, 0.03, 0.04.
    assert lab[:, 0].tolist() == [False, True, False, False, False]
    assert lab[:, 1].tolist() == [False, False, True, True, True]


def test_jer_more_system_than_reference_speakers_not_penalised():
    ref = [T("A", 0, 10)]
    hyp = [T("X", 0, 10), T("Y", 20, 30)]
    f = one(ref, hyp)
    assert f.jer.jer == pytest.approx(0.0)
    assert f.der.false_alarm == pytest.approx(10.0)


def test_no_reference_speech_in_uem():
    rep = score_diarization([T("A", 50, 60)], [T("X", 0, 5)], uem={"rec": (0.0, 10.0)})
    f = rep.files[0]
    assert f.der.der == pytest.approx(100.0)
    assert f.jer.jer == pytest.approx(100.0)
    # md-eval never sees the file, so dscore's pooled DER has nothing to pool.
    assert rep.overall.scored == 0.0 and rep.overall.errors == 0.0


def test_bad_collar_rejected():
    with pytest.raises(ValueError, match="collar"):
        score_diarization([T("A", 0, 1)], [], collar=-1)


def test_frame_counts_equal_explicit_frame_matrix():
    import numpy as np

    from espnet_tagspeech.scoring.jer import frame_counts
    from espnet_tagspeech.scoring.synthetic import random_reference, random_system

    rng = np.random.default_rng(11)
    ref_t = random_reference("r", rng, n_speakers=4, duration=120.0, mean_pause=6.0)
    sys_t = random_system(ref_t, rng, extra_speakers=2)
    regions = [(3.217, 50.0), (55.5, 118.004)]
    ref = speaker_intervals(ref_t, regions)
    hyp = speaker_intervals(sys_t, regions)
    r = frame_labels(ref, regions).astype(int)
    s = frame_labels(hyp, regions).astype(int)
    ref_n, sys_n, inter = frame_counts(ref, hyp, regions)
    assert ref_n.tolist() == r.sum(axis=0).tolist()
    assert sys_n.tolist() == s.sum(axis=0).tolist()
    assert inter.tolist() == (r.T @ s).tolist()


def _turn_lists():
    from hypothesis import strategies as st

    turn = st.tuples(
        st.integers(0, 2), st.integers(0, 3000), st.integers(1, 800)
    ).map(lambda x: T(f"s{x[0]}", x[1] / 100, (x[1] + x[2]) / 100))
    return st.lists(turn, min_size=1, max_size=12)


def test_properties_on_random_turns():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(ref=_turn_lists(), hyp=_turn_lists(), collar=st.sampled_from([0.0, 0.1, 0.5]))
    def check(ref, hyp, collar):
        same = one(ref, [t.with_speaker("h" + t.speaker) for t in ref], collar=collar)
        assert same.der.errors == pytest.approx(0.0, abs=1e-9)
        assert same.jer.jer == pytest.approx(0.0)
        f = one(ref, hyp, collar=collar)
        d = f.der
        assert min(d.missed, d.false_alarm, d.confusion) >= 0.0
        assert d.missed + d.confusion <= d.scored + 1e-9
        assert 0.0 <= f.jer.jer <= 100.0
        # Swapping roles swaps misses and false alarms (no collar: same scored region).
        if collar == 0.0:
            g = one(hyp, ref)
            assert g.der.missed == pytest.approx(d.false_alarm, abs=1e-9)
            assert g.der.false_alarm == pytest.approx(d.missed, abs=1e-9)
            assert g.der.confusion == pytest.approx(d.confusion, abs=1e-9)

    check()
