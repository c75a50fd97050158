"""Where a decoding's speaker errors come from: inside the cuts, or in linking them.

Reads one decoded test set (stage 8's merged ``text``: one raw answer per cut,
and the ``rttm`` that linking made of them) and prints, at the given collar:

* the DER of the decoding as scored (its own linking);
* the DER of the same cut-level speakers linked by the reference: in each cut,
  its speakers are matched one-to-one to reference speakers by the speech time
  they share (two speakers of one cut never become one person, as in the
  recipe's linking); an unmatched speaker stays a speaker of its own
  (``--link_unit line``, the cascade's answers: every line is matched on its own).  What
  is left is what the answers themselves get wrong (missed and extra speech,
  a person split over two ids or two people under one);
* (``--link_unit speaker``) how many cuts list as many speakers as the reference has talking in them
  (at least ``--min_speaker_sec`` each), and how many list more or fewer;
* (``--link_unit speaker``) the pairs of text lines of one cut: of those one person said (each
  line's person: the reference speaker it shares most time with), how many the answer gives two
  ids (split), and of those two people said, how many it gives one id (joined).

The difference of the two DERs is the linking's share.  Run from a recipe
dir, e.g. ``egs2/mini_meeting/tagspeech1``::

    python ../../../bench/bench_speaker_errors.py \\
        --decode_dir exp/tagspeech_mini/decode_<...>/test \\
        --data_dir dump/mini/raw/test --cut2reco dump/mini/raw/test_vad_cuts/cut2reco
"""

import argparse
import collections
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_tagspeech.data.turn import Turn


def _shared(a: Sequence[Turn], b: Sequence[Turn]) -> float:
    """Seconds two lists of turns of one recording talk at the same time."""
    total = 0.0
    for x in a:
        for y in b:
            total += max(0.0, min(x.end, y.end) - max(x.start, y.start))
    return total


def link_by_reference(cut_turns: Dict[str, List[Turn]], reference: Sequence[Turn],
                      one_to_one: bool = True) -> List[Turn]:
    """Cut-level speaker turns relabelled with reference speakers.

    Args:
        cut_turns: Per cut, its speaker turns in recording time, labelled
            uniquely across cuts (``<cut>|<id>``, as stage 8's merge labels them).
        reference: The reference turns of the recordings.
        one_to_one: No reference speaker for two speakers of one cut (the
            LLM's speaker blocks); else each takes the reference speaker it
            shares most speech with (the cascade's lines, each its own speaker).

    Returns:
        The turns, each labelled with the reference speaker its cut speaker was
        matched to (most shared speech), or its own label when it was left
        unmatched.
    """
    from scipy.optimize import linear_sum_assignment

    ref_by: Dict[str, Dict[str, List[Turn]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for t in reference:
        ref_by[t.recording][t.speaker].append(t)
    out: List[Turn] = []
    for _, turns in sorted(cut_turns.items()):
        if not turns:
            continue
        ref = ref_by.get(turns[0].recording, {})
        mine: Dict[str, List[Turn]] = collections.defaultdict(list)
        for t in turns:
            mine[t.speaker].append(t)
        local, people = sorted(mine), sorted(ref)
        shared = np.array([[_shared(mine[a], ref[p]) for p in people] for a in local]).reshape(len(local), len(people))
        if not shared.size:
            rows, cols = [], []
        elif one_to_one:
            rows, cols = linear_sum_assignment(-shared)
        else:
            rows, cols = np.arange(len(local)), shared.argmax(1)
        label = {local[r]: people[c] for r, c in zip(rows, cols) if shared[r, c] > 0}
        out += [t.with_speaker(label.get(t.speaker, t.speaker)) for t in turns]
    return out


def count_differences(cut_turns: Dict[str, List[Turn]], cut_spans: Dict[str, Tuple[str, float, float]],
                      reference: Sequence[Turn], min_speaker_sec: float = 0.3) -> Dict[int, int]:
    """``{listed - talking: number of cuts}``: speakers of each cut's answer against the
    reference speakers with at least ``min_speaker_sec`` of speech inside the cut."""
    ref_by: Dict[str, List[Turn]] = collections.defaultdict(list)
    for t in reference:
        ref_by[t.recording].append(t)
    diff: Dict[int, int] = collections.Counter()
    for cut, (reco, start, end) in cut_spans.items():
        talk: Dict[str, float] = collections.Counter()
        for t in ref_by.get(reco, []):
            talk[t.speaker] += max(0.0, min(t.end, end) - max(t.start, start))
        want = sum(sec >= min_speaker_sec for sec in talk.values())
        have = len({t.speaker for t in cut_turns.get(cut, [])})
        diff[have - want] += 1
    return dict(sorted(diff.items()))


def cut_speaker_turns(answers: Dict[str, str], cut_spans: Dict[str, Tuple[str, float, float]],
                      rttm_from: str = "block") -> Dict[str, List[Turn]]:
    """Each cut's speaker turns in recording time, as stage 8's merge reads its answer
    (parsed, moved by the cut's start, clipped to the cut; labels local to the cut)."""
    from espnet_tagspeech.decode.link import RecordingTurns
    from espnet_tagspeech.serialization import line_to_target, parse

    out: Dict[str, List[Turn]] = {}
    for cut, raw in answers.items():
        reco, start, end = cut_spans[cut]
        gathered = RecordingTurns()
        gathered.add_cut(cut, start, end, parse(line_to_target(raw), recording=reco, offset=start), rttm_from)
        out[cut] = gathered.diarization
    return out


def cut_lines(answers: Dict[str, str], cut_spans: Dict[str, Tuple[str, float, float]]) -> Dict[str, List[Turn]]:
    """Each cut's text lines in recording time, with the cut-local speaker its block gives them."""
    from espnet_tagspeech.decode.link import RecordingTurns
    from espnet_tagspeech.serialization import line_to_target, parse

    out: Dict[str, List[Turn]] = {}
    for cut, raw in answers.items():
        reco, start, end = cut_spans[cut]
        gathered = RecordingTurns()
        gathered.add_cut(cut, start, end, parse(line_to_target(raw), recording=reco, offset=start), "lines")
        out[cut] = gathered.lines
    return out


def line_pairs(lines: Dict[str, List[Turn]], reference: Sequence[Turn]) -> Dict[str, int]:
    """Pairs of lines within a cut: ``same`` (one person said both) of which ``split`` (two ids),
    ``different`` (two people) of which ``joined`` (one id).  A line that overlaps no reference
    speech is left out."""
    by_reco: Dict[str, List[Turn]] = collections.defaultdict(list)
    for t in reference:
        by_reco[t.recording].append(t)
    out = {"same": 0, "split": 0, "different": 0, "joined": 0}
    for turns in lines.values():
        people = []
        for line in turns:
            talk: Dict[str, float] = collections.defaultdict(float)
            for r in by_reco.get(line.recording, []):
                talk[r.speaker] += max(0.0, min(r.end, line.end) - max(r.start, line.start))
            best = max(talk, key=lambda k: talk[k]) if talk and max(talk.values()) > 0 else None
            if best is not None:
                people.append((best, line.speaker))
        for i in range(len(people)):
            for j in range(i + 1, len(people)):
                one_person, one_id = people[i][0] == people[j][0], people[i][1] == people[j][1]
                out["same" if one_person else "different"] += 1
                out["split"] += one_person and not one_id
                out["joined"] += one_id and not one_person
    return out


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decode_dir", required=True, help="a decoded test set: 'text' (answers per cut) and 'rttm'")
    p.add_argument("--data_dir", required=True, help="the test set's data dir ('rttm', optional 'uem')")
    p.add_argument("--cut2reco", required=True, help="cut -> 'recording start end' of the decoded cuts")
    p.add_argument("--rttm_from", default="block", choices=["block", "lines"],
                   help="the answers' turns to score, as the link config's rttm_from (default block)")
    p.add_argument("--link_unit", default="speaker", choices=["speaker", "line"],
                   help="speaker: a cut's speakers are people, matched one-to-one (the LLM's blocks); "
                        "line: every line its own speaker, each matched on its own (the cascade)")
    p.add_argument("--collar", type=float, default=0.25)
    p.add_argument("--min_speaker_sec", type=float, default=0.3,
                   help="a reference speaker talks in a cut with at least this much speech there")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from espnet_tagspeech.bin.merge_decodes import read_cut2reco
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_rttm, read_uem
    from espnet_tagspeech.data.kaldi import read_scp
    from espnet_tagspeech.scoring.diarization import score_diarization

    decode, data = Path(args.decode_dir), Path(args.data_dir)
    try:
        for f in (decode / "text", decode / "rttm", data / "rttm", Path(args.cut2reco)):
            if not f.is_file():
                raise DataFormatError(str(f), None, "no such file")
        answers = read_scp(decode / "text")
        spans = read_cut2reco(args.cut2reco)
        unknown = sorted(set(answers) - set(spans))
        if unknown:
            raise DataFormatError(args.cut2reco, None, f"no entry for decoded cuts {unknown[:5]}")
        reference = read_rttm(data / "rttm")
        system = read_rttm(decode / "rttm")
        uem = read_uem(data / "uem") if (data / "uem").is_file() else None
    except (DataFormatError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cut_turns = cut_speaker_turns(answers, {k: spans[k] for k in answers}, args.rttm_from)
    linked = link_by_reference(cut_turns, reference, one_to_one=args.link_unit == "speaker")
    rows = []
    for name, turns in (("as decoded (its own linking)", system),
                        ("cut speakers linked by the reference", linked)):
        der = score_diarization(reference, turns, uem, args.collar).overall
        d = der.as_dict()
        rows.append((name, d["der"], d["miss"], d["fa"], d["conf"]))
    print(f"decode dir: {decode}  (collar {args.collar}, turns from the answers' {args.rttm_from})\n")
    print("| speakers | DER | MISS | FA | CONF |\n|:--|--:|--:|--:|--:|")
    for name, *nums in rows:
        print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in nums) + " |")
    print(f"| linking's share | {rows[0][1] - rows[1][1]:.2f} | | | {rows[0][4] - rows[1][4]:.2f} |")
    if args.link_unit == "line":
        return 0  # a cut's lines are not its speakers: no count to compare
    diff = count_differences(cut_turns, {k: spans[k] for k in answers}, reference, args.min_speaker_sec)
    n = sum(diff.values())
    print(f"\ncuts listing as many speakers as talk in them: {diff.get(0, 0)} of {n}; "
          f"more: {sum(v for k, v in diff.items() if k > 0)}; fewer: {sum(v for k, v in diff.items() if k < 0)} "
          f"(listed - talking: {diff})")
    pairs = line_pairs(cut_lines(answers, {k: spans[k] for k in answers}), reference)
    print(f"pairs of lines in a cut: one person's {pairs['same']}, split into two ids {pairs['split']} "
          f"({100 * pairs['split'] / max(pairs['same'], 1):.1f} %); two people's {pairs['different']}, "
          f"joined under one id {pairs['joined']} ({100 * pairs['joined'] / max(pairs['different'], 1):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
