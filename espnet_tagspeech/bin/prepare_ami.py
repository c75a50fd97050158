"""Prepare AMI data dirs (train/dev/test of a meeting partition) for TagSpeech.

Usage::

    python -m espnet_tagspeech.bin.prepare_ami --corpus_dir $AMI \\
        --split_dir local/split_full_corpus_asr --mic sdm --out_dir data

writes ``data/{train,dev,test}_sdm``: one utterance per speaker turn (words of a
speaker joined while pauses are < ``--max_pause`` s), with ``rttm``, ``uem``,
``ref.seglst.json`` and ``words.ctm``.  ``--annotations rttm`` takes the turns
from BUT's "only_words" RTTMs instead (``--rttm_dir``), attaching the manual
words when the annotations are there too.

Everything is read and checked before anything is written: a malformed
annotation stops the run with its file and line (``--skip_bad`` skips it with
a warning instead), and meetings without audio or annotations are an error
unless ``--allow_missing`` is given.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

logger = logging.getLogger("prepare_ami")


def get_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="prepare_ami", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpus_dir", required=True, help="AMI root: amicorpus/<meeting>/audio and the manual annotations")
    p.add_argument("--split_dir", required=True, help="dir with <set>.list meeting lists")
    p.add_argument("--out_dir", default="data", help="where <set>_<mic> data dirs go")
    p.add_argument("--sets", nargs="+", default=["train", "dev", "test"], help="sets to prepare")
    p.add_argument("--mic", choices=["sdm", "ihm-mix"], default="sdm")
    p.add_argument("--annotations", choices=["nxt", "rttm"], default="nxt", help="manual NXT XML or BUT RTTMs")
    p.add_argument("--annotations_dir", default=None, help="manual annotations (default: found under --corpus_dir)")
    p.add_argument("--rttm_dir", default=None, help="BUT only_words/rttms dir (for --annotations rttm)")
    p.add_argument("--turns", choices=["words", "segments"], default="words", help="word-level turns or transcriber segments")
    p.add_argument("--max_pause", type=float, default=0.5, help="a pause this long (s) ends a word-level turn")
    p.add_argument("--suffix", default=None, help="data dir name suffix (default: _<mic>)")
    p.add_argument("--allow_missing", action="store_true", help="skip meetings without audio or annotations")
    p.add_argument("--skip_bad", action="store_true", help="skip malformed entries with a warning instead of stopping")
    return p


def _speaker_tables(annotations: Optional[Path]) -> Tuple[Dict, Dict]:
    from espnet_tagspeech.corpora.ami import read_meetings, read_participants

    if annotations is None:
        return {}, {}
    res = annotations / "corpusResources"
    sexes = read_participants(res / "participants.xml") if (res / "participants.xml").is_file() else {}
    if not (res / "meetings.xml").is_file():
        logger.warning("%s not found: speakers get per-meeting names", res / "meetings.xml")
        return {}, sexes
    return read_meetings(res / "meetings.xml", sexes), sexes


def _plan(args: argparse.Namespace, annotations: Optional[Path]) -> Dict[str, List[Tuple[str, Path, Optional[Path]]]]:
    """{set: [(meeting, audio, rttm)]} for meetings with everything they need; reports the rest."""
    from espnet_tagspeech.corpora.ami import audio_path, find_rttm, meeting_agents, read_meeting_list
    from espnet_tagspeech.data.errors import DataFormatError

    plan: Dict[str, List[Tuple[str, Path, Optional[Path]]]] = {}
    owner: Dict[str, str] = {}
    missing: List[str] = []
    for name in args.sets:
        list_file = Path(args.split_dir) / f"{name}.list"
        meetings = read_meeting_list(list_file)
        plan[name] = []
        for m in meetings:
            if m in owner:
                raise DataFormatError(str(list_file), None, f"{m} is also in {owner[m]}.list")
            owner[m] = name
            audio = audio_path(args.corpus_dir, m, args.mic)
            rttm = find_rttm(args.rttm_dir, m) if args.annotations == "rttm" else None
            if not audio.is_file():
                missing.append(f"{m}: no audio {audio}")
            elif args.annotations == "rttm" and rttm is None:
                missing.append(f"{m}: no {m}.rttm under {args.rttm_dir}")
            elif args.annotations == "nxt" and not meeting_agents(annotations, m):  # type: ignore[arg-type]
                missing.append(f"{m}: no words/{m}.*.words.xml under {annotations}")
            else:
                plan[name].append((m, audio, rttm))
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... {len(missing) - 10} more" if len(missing) > 10 else "")
        if not args.allow_missing:
            raise SystemExit(f"prepare_ami: {len(missing)} meetings cannot be prepared:\n  {shown}\n"
                             "(--allow_missing skips them)")
        logger.warning("skipping %d meetings:\n  %s", len(missing), shown)
    for name, items in plan.items():
        if not items:
            raise SystemExit(f"prepare_ami: no meeting of set {name!r} has audio and annotations")
    return plan


def _annotations_dir(args: argparse.Namespace) -> Optional[Path]:
    from espnet_tagspeech.corpora.ami import find_annotations

    if args.annotations_dir:
        path = Path(args.annotations_dir)
        if not (path / "words").is_dir():
            raise SystemExit(f"prepare_ami: --annotations_dir {path} has no words/ dir")
        return path
    found = find_annotations(args.corpus_dir)
    if found is None and args.annotations == "nxt":
        raise SystemExit(
            f"prepare_ami: no AMI manual annotations (a words/ dir) under {args.corpus_dir}; unpack "
            "ami_public_manual_1.6.2.zip there or give --annotations_dir"
        )
    return found


def main(argv: Optional[List[str]] = None) -> int:
    """Prepare the data dirs; return the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    import soundfile as sf
    from tqdm import tqdm

    from espnet_tagspeech.corpora.ami import load_meeting_nxt, load_meeting_rttm, meeting_words
    from espnet_tagspeech.corpora.datadir import Recording, write_prepared_sets
    from espnet_tagspeech.corpora.problems import Problems
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError

    if not Path(args.corpus_dir).is_dir():
        raise SystemExit(f"prepare_ami: --corpus_dir {args.corpus_dir} is not a directory")
    if args.annotations == "rttm" and not (args.rttm_dir and Path(args.rttm_dir).is_dir()):
        raise SystemExit("prepare_ami: --annotations rttm needs --rttm_dir (BUT's only_words/rttms)")
    if args.max_pause <= 0:
        raise SystemExit("prepare_ami: --max_pause must be > 0")
    suffix = f"_{args.mic}" if args.suffix is None else args.suffix
    problems = Problems(strict=not args.skip_bad)
    try:
        check_writable(args.out_dir)
        annotations = _annotations_dir(args)
        speakers, sexes = _speaker_tables(annotations)
        plan = _plan(args, annotations)
        prepared = {}
        for name, items in plan.items():
            recordings, turns = [], []
            for meeting, audio, rttm in tqdm(items, desc=f"AMI {name}", unit="meeting", disable=None):
                if args.annotations == "rttm":
                    words = meeting_words(annotations, meeting, speakers, problems) if annotations else None
                    turns.extend(load_meeting_rttm(rttm, meeting, sexes, words))  # type: ignore[arg-type]
                else:
                    turns.extend(
                        load_meeting_nxt(annotations, meeting, speakers, args.turns, args.max_pause, problems)  # type: ignore[arg-type]
                    )
                try:
                    info = sf.info(str(audio))
                except Exception as e:  # libsndfile's errors
                    raise DataFormatError(str(audio), None, f"cannot read audio header ({e})") from None
                recordings.append(Recording(meeting, str(audio.resolve()), info.frames / info.samplerate))
            prepared[name] = (recordings, turns)
    except DataFormatError as err:
        logger.error("%s", err)
        return 1
    return write_prepared_sets(prepared, args.out_dir, suffix, len(problems.found))


if __name__ == "__main__":
    sys.exit(main())
