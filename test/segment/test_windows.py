"""Tests of speech regions -> decoding windows (espnet_tagspeech.segment.windows)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_tagspeech.data.grouping import Cut
from espnet_tagspeech.segment.windows import (
    Region,
    Window,
    WindowConfig,
    clean_regions,
    group_regions,
    make_windows,
    split_at_pauses,
    split_continuous,
)


def R(*spans):
    return [Region(s, e) for s, e in spans]


def spans(windows):
    return [(w.start, w.end) for w in windows]


def test_window_id_matches_make_cuts_naming():
    assert Window("rec_1", 1.2345, 12.5).id == Cut("rec_1", 1.2345, 12.5, ()).id == "rec_1_0001234_0012500"
    assert Window("r", 0.0, 0.5).duration == 0.5
    with pytest.raises(ValueError):
        Window("r", 2.0, 2.0)
    with pytest.raises(ValueError):
        Region(1.0, 0.5)


def test_config_is_checked():
    with pytest.raises(ValueError, match="2 \\* pad"):
        WindowConfig(max_window=1.0, pad=0.5)
    with pytest.raises(ValueError, match="merge_gap"):
        WindowConfig(merge_gap=-1)
    with pytest.raises(ValueError, match="max_window"):
        WindowConfig(max_window=float("nan"))


def test_regions_are_clipped_sorted_and_joined():
    got = clean_regions(R((5, 6), (-0, 1), (0.5, 2), (2, 3), (9, 12), (12.5, 13)), duration=10.0)
    assert got == R((0, 3), (5, 6), (9, 10))


def test_close_regions_merge_and_distant_ones_do_not():
    cfg = WindowConfig(max_window=20, merge_gap=0.3, pad=0.0)
    assert spans(make_windows(R((1, 2), (2.2, 3)), 10, "r", cfg)) == [(1, 3)]
    assert spans(make_windows(R((1, 2), (2.5, 3)), 10, "r", cfg)) == [(1, 2), (2.5, 3)]
    assert [len(g) for g in group_regions(R((1, 2), (2.2, 3), (3.5, 4)), 0.3)] == [2, 1]


def test_long_group_splits_at_the_widest_pause():
    cfg = WindowConfig(max_window=20, merge_gap=1.0, pad=0.0)
    regions = R((0, 5), (5.2, 10), (10.6, 15), (15.1, 22))
    assert spans(make_windows(regions, 30, "r", cfg)) == [(0, 10), (10.6, 22)]


def test_equal_pauses_split_nearest_the_middle():
    pieces = split_at_pauses(R((0, 4), (4.5, 8), (8.5, 12), (12.5, 16)), limit=10)
    assert [(p[0].start, p[-1].end) for p in pieces] == [(0, 8), (8.5, 16)]


def test_splitting_many_regions_is_not_recursive():
    regions = [Region(i * 0.5, i * 0.5 + 0.4 + (i % 7) * 0.001) for i in range(5000)]
    windows = make_windows(regions, 2600, "r", WindowConfig(max_window=20, merge_gap=0.3, pad=0.05))
    assert all(w.duration <= 20 for w in windows)
    assert len(windows) >= 2500 / 20


def test_padding_is_clipped_to_the_recording_and_to_half_the_pause():
    cfg = WindowConfig(max_window=20, merge_gap=0.3, pad=0.3)
    assert spans(make_windows(R((0.05, 1), (9.5, 9.98)), 10, "r", cfg)) == [(0.0, 1.3), (9.2, 10.0)]
    assert spans(make_windows(R((1, 2), (2.4, 3)), 10, "r", cfg)) == [(0.7, 2.2), (2.2, 3.3)]


def test_continuous_speech_is_split_evenly_without_audio():
    cfg = WindowConfig(max_window=20, merge_gap=0.3, pad=0.0)
    windows = make_windows(R((0, 50)), 50, "r", cfg)
    assert spans(windows) == [(0, 16.666), (16.667, 33.333), (33.334, 50)]
    padded = make_windows(R((5, 55)), 60, "r", WindowConfig(max_window=20, pad=0.5))
    assert padded[0].start == 4.5 and padded[-1].end == 55.5  # only the outer edges are padded
    assert all(w.duration <= 20 for w in padded)


def test_continuous_speech_cut_moves_to_the_quietest_point_within_the_slack():
    asked = []

    def quietest(lo, hi):
        asked.append((lo, hi))
        return hi + 5.0  # out of range on purpose: clamped to the slack

    cuts = split_continuous(0.0, 30.0, 20.0, quietest, slack=1.0)
    assert asked == [(12.5, 17.5)] and cuts == [17.5]  # pieces of 15 s may grow to 20 s
    assert split_continuous(0.0, 30.0, 20.0, lambda lo, hi: 15.3) == [15.3]
    assert split_continuous(0.0, 19.0, 20.0) == []
    # 39.9 s would give two pieces with 0.05 s of room: three pieces leave at least the slack
    assert len(split_continuous(0.0, 39.9, 20.0, slack=1.0)) == 2


def test_windows_with_too_little_speech_are_dropped():
    cfg = WindowConfig(max_window=20, merge_gap=0.3, pad=0.0, min_speech=0.3)
    assert spans(make_windows(R((1, 1.2), (5, 6)), 10, "r", cfg)) == [(5, 6)]


def test_no_regions_no_windows_and_bad_duration():
    assert make_windows([], 10, "r") == []
    with pytest.raises(ValueError, match="duration"):
        make_windows(R((0, 1)), 0.0, "r")


@st.composite
def _regions(draw):
    n = draw(st.integers(0, 30))
    t, out = 0.0, []
    for _ in range(n):
        t += draw(st.floats(0.0, 3.0))
        length = draw(st.floats(0.01, 45.0))
        out.append(Region(round(t, 3), round(t + length, 3)))
        t += length
    return out


@settings(max_examples=150, deadline=None)
@given(
    _regions(),
    st.floats(2.0, 30.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 0.5),
    st.booleans(),
)
def test_windows_are_disjoint_short_enough_inside_the_recording_and_cover_the_speech(
    regions, max_window, merge_gap, pad, with_quietest
):
    cfg = WindowConfig(max_window=max_window, merge_gap=merge_gap, pad=min(pad, max_window / 4))
    duration = max([r.end for r in regions], default=1.0) + 0.5
    quietest = (lambda lo, hi: lo + (hi - lo) * 0.3) if with_quietest else None
    windows = make_windows(regions, duration, "rec", cfg, quietest)
    for w in windows:
        assert 0.0 <= w.start < w.end <= duration + 1e-9
        assert w.duration <= max_window + 1e-9
    for a, b in zip(windows, windows[1:]):
        assert a.end <= b.start + 1e-9
    speech = sum(r.duration for r in clean_regions(regions, duration))
    covered = sum(max(0.0, min(r.end, w.end) - max(r.start, w.start))
                  for r in clean_regions(regions, duration) for w in windows)  # fmt: skip
    assert speech - covered <= 0.002 * (len(windows) + 1)  # only millisecond rounding is lost
    assert len({w.id for w in windows}) == len(windows)
