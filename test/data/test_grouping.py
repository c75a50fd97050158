"""Tests of utterance grouping (espnet_tagspeech.data.grouping) and the make_cuts CLI."""

import logging
from pathlib import Path
from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espnet_tagspeech.bin import make_cuts as make_cuts_cli
from espnet_tagspeech.data.grouping import (
    Cut,
    group_turns,
    make_cuts,
    renumber_speakers,
    split_group,
)
from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment, read_rttm, read_segments, read_text
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.data.validate import validate_data_dir
from espnet_tagspeech.serialization import line_to_target, parse


def T(spk: str, start: float, end: float, text: str = "hello there", reco: str = "r1", g: str = "u") -> Turn:
    return Turn.from_text(reco, spk, start, end, text, g)


def _inside_speech(point: float, turns: List[Turn]) -> bool:
    return any(t.start + 1e-9 < point < t.end - 1e-9 for t in turns)


def test_overlapping_and_touching_turns_join_pauses_separate():
    turns = [T("a", 0, 2), T("b", 1.5, 3), T("a", 3, 4), T("c", 4.2, 5), T("b", 7, 8)]
    groups = group_turns(turns)
    assert [[(t.speaker, t.start) for t in g] for g in groups] == [
        [("a", 0), ("b", 1.5), ("a", 3)],
        [("c", 4.2)],
        [("b", 7)],
    ]
    # a pause of 0.2 s joins with max_pause 0.25, the 2 s pause does not
    assert [len(g) for g in group_turns(turns, max_pause=0.25)] == [4, 1]


def test_groups_are_per_recording():
    turns = [T("a", 0, 2, reco="r1"), T("a", 1, 3, reco="r2")]
    assert sorted(g[0].recording for g in group_turns(turns)) == ["r1", "r2"]


def test_long_group_split_at_largest_pause():
    # one group thanks to max_pause=1.0; pauses of 0.3 s (at 5) and 0.9 s (at 10.3)
    turns = [T("a", 0, 5), T("b", 5.3, 10.3), T("a", 11.2, 14), T("b", 13, 16)]
    res = make_cuts(turns, min_dur=0.5, max_dur=12.0, max_pause=1.0)
    assert [(c.start, c.end) for c in res.cuts] == [(0, 10.3), (11.2, 16)]
    pieces, bad = split_group(turns, 5.0)
    # recursively: first at the 0.9 s pause, then the left part at the 0.3 s pause
    assert [(p[0].start, max(t.end for t in p)) for p in pieces] == [(0, 5), (5.3, 10.3), (11.2, 16)]
    assert bad == []
    pieces, bad = split_group(turns, 4.9)
    assert [(p[0].start, max(t.end for t in p)) for p in pieces] == [(11.2, 16)]
    assert [(b[0].start, max(t.end for t in b)) for b in bad] == [(0, 5), (5.3, 10.3)]


def test_touching_point_is_a_split_point_with_max_pause_zero():
    turns = [T("a", 0, 6), T("b", 6, 12), T("a", 11, 13)]
    res = make_cuts(turns, max_dur=8.0)
    assert [(c.start, c.end) for c in res.cuts] == [(0, 6), (6, 13)]


def test_unsplittable_long_group_dropped_with_warning(caplog):
    turns = [T("a", 0, 50), T("b", 40, 90), T("a", 100, 101)]
    with caplog.at_level(logging.WARNING):
        res = make_cuts(turns, max_dur=80.0)
    assert [(c.start, c.end) for c in res.cuts] == [(100, 101)]
    assert [(c.start, c.end) for c in res.too_long] == [(0, 90)]
    assert "r1_0000000_0090000" in caplog.text and "no point without speech" in caplog.text


def test_short_groups_dropped():
    res = make_cuts([T("a", 0, 0.3), T("b", 1, 2)], min_dur=0.5)
    assert [c.start for c in res.cuts] == [1]
    assert [c.start for c in res.too_short] == [0]


def test_cut_id_format():
    c = Cut("rec_7", 1.2346, 61.0, (T("a", 1.2346, 61.0, reco="rec_7"),))
    assert c.id == "rec_7_0001235_0061000"
    assert Cut("r", 0.0, 0.5, ()).id == "r_0000000_0000500"


def test_bad_options_rejected():
    with pytest.raises(ValueError):
        make_cuts([T("a", 0, 1)], min_dur=2, max_dur=1)
    with pytest.raises(ValueError):
        group_turns([T("a", 0, 1)], max_pause=-1)


def _check_targets(cut: Cut) -> None:
    res = parse(cut.target(), strict=True)
    want = renumber_speakers([t.shifted(-cut.start) for t in cut.turns], "cut")
    # both sorted alike: two lines with the same times come in speaker-number order
    got = sorted((t.start, t.end, t.speaker, t.text, t.gender) for t in res.turns)
    assert got == sorted((round(t.start, 2), round(t.end, 2), t.speaker, t.text, t.gender) for t in want)


def test_target_round_trip_renumbers_speakers_and_shifts_times():
    turns = [T("zed", 10.0, 12.5, "we should move it", g="m"), T("amy", 11.0, 14.0, "okay sure", g="f"),
             T("zed", 14.0, 15.25, "right", g="m")]  # fmt: skip
    (cut,) = make_cuts(turns).cuts
    assert cut.start == 10.0
    _check_targets(cut)
    res = parse(cut.target(), strict=True)
    assert {t.speaker: t.gender for t in res.turns} == {"1": "m", "2": "f"}
    assert [t.start for t in res.turns][:2] == [0.0, 1.0]


@st.composite
def _recordings(draw):
    # like real meetings: nobody overlaps themself
    turns = []
    for reco in ("ra", "rb"):
        t = 0.0
        busy = {}
        for i in range(draw(st.integers(1, 10))):
            t += draw(st.sampled_from([-1.0, -0.3, 0.0, 0.0, 0.2, 0.7, 2.0]))
            spk = draw(st.sampled_from(["s1", "s2", "s3"]))
            t = max(t, 0.0, busy.get(spk, 0.0))
            dur = draw(st.sampled_from([0.3, 0.8, 1.5, 3.0, 6.0]))
            g = "m" if spk == "s2" else "f"
            turns.append(Turn.from_text(reco, spk, round(t, 2), round(t + dur, 2), f"w{i} x", g))
            t += dur
            busy[spk] = t
    return turns


@settings(max_examples=40, deadline=None)
@given(_recordings(), st.sampled_from([0.0, 0.5]), st.sampled_from([4.0, 80.0]))
def test_grouping_invariants(turns, max_pause, max_dur):
    res = make_cuts(turns, min_dur=0.5, max_dur=max_dur, max_pause=max_pause)
    kept = [t for c in res.cuts for t in c.turns]
    dropped = [t for c in res.too_short + res.too_long for t in c.turns]
    # every turn lands in exactly one cut (or one dropped group)
    assert sorted(map(id, kept + dropped)) == sorted(map(id, turns))
    for c in res.cuts:
        same = [t for t in turns if t.recording == c.recording]
        # no cut boundary inside speech, and the cut spans exactly its turns
        assert not _inside_speech(c.start, same) and not _inside_speech(c.end, same)
        assert c.start == min(t.start for t in c.turns) and c.end == max(t.end for t in c.turns)
        assert 0.5 - 1e-9 <= c.duration <= max_dur + 1e-9
        # no turn of another cut reaches into this one
        others = [t for t in same if t not in c.turns]
        assert not any(t.start < c.end - 1e-9 and t.end > c.start + 1e-9 for t in others)
        _check_targets(c)
    ids = [c.id for c in res.cuts]
    assert len(ids) == len(set(ids))


def _kaldi_dir(path: Path, turns: List[Turn]) -> None:
    utts = {f"{t.speaker}-{t.recording}-{int(t.start * 100):06d}": t for t in turns}
    KaldiDataDir(path).write(
        wav_scp={r: f"/nonexistent/{r}.wav" for r in {t.recording for t in turns}},
        segments={u: Segment(t.recording, t.start, t.end) for u, t in utts.items()},
        utt2spk={u: t.speaker for u, t in utts.items()},
        text={u: t.text for u, t in utts.items()},
        spk2gender={t.speaker: t.gender for t in turns},
    )


def test_make_cuts_cli_writes_valid_dir(tmp_path):
    turns = [T("m01", 0.5, 3.0, "we should move the budget", g="m"),
             T("f02", 2.5, 4.0, "yeah", g="f"), T("f02", 6.0, 9.0, "okay let's do it", g="f"),
             T("m01", 1.0, 2.0, "i see", reco="r2", g="m")]  # fmt: skip
    _kaldi_dir(tmp_path / "in", turns)
    assert make_cuts_cli.main(["--in_dir", str(tmp_path / "in"), "--out_dir", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    segs = read_segments(out / "segments")
    assert {k: (s.recording, s.start, s.end) for k, s in segs.items()} == {
        "r1_0000500_0004000": ("r1", 0.5, 4.0),
        "r1_0006000_0009000": ("r1", 6.0, 9.0),
        "r2_0001000_0002000": ("r2", 1.0, 2.0),
    }
    text = read_text(out / "text")
    res = parse(line_to_target(text["r1_0000500_0004000"]), strict=True)
    assert [(t.speaker, t.start, t.end, t.text, t.gender) for t in res.turns] == [
        ("1", 0.0, 2.5, "we should move the budget", "m"), ("2", 2.0, 3.5, "yeah", "f")]
    assert len((out / "text").read_text().splitlines()) == 3
    assert (out / "utt2spk").read_text().split() == [
        "r1_0000500_0004000", "r1", "r1_0006000_0009000", "r1", "r2_0001000_0002000", "r2"]
    assert (out / "wav.scp").read_bytes() == (tmp_path / "in" / "wav.scp").read_bytes()
    rttm = read_rttm(out / "rttm")
    assert sorted((t.recording, t.speaker, t.start) for t in rttm) == sorted(
        (t.recording, t.speaker, t.start) for t in turns)
    assert len((out / "cuts.list").read_text().splitlines()) == 3
    report = validate_data_dir(out, audio="none")
    assert report.ok, report.summary()


def test_make_cuts_cli_bad_input_names_file_and_key(tmp_path, capsys):
    turns = [T("a", 0.5, 3.0), T("b", 4.0, 5.0)]
    _kaldi_dir(tmp_path / "in", turns)
    lines = (tmp_path / "in" / "text").read_text().splitlines()
    (tmp_path / "in" / "text").write_text(lines[0] + "\n")
    rc = make_cuts_cli.main(["--in_dir", str(tmp_path / "in"), "--out_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "text" in err and "b-r1-000400" in err
    assert not (tmp_path / "out").exists()
