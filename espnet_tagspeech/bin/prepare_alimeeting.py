"""Prepare AliMeeting far-field data dirs (Train/Eval/Test) for TagSpeech.

Usage::

    python -m espnet_tagspeech.bin.prepare_alimeeting --corpus_dir $ALIMEETING --out_dir data

writes ``data/{train,eval,test}_far``: one utterance per non-empty TextGrid
interval, text normalised for character-level scoring (cpCER), speakers and
genders from the tier names, plus ``rttm``, ``uem`` and ``ref.seglst.json``.
AliMeeting has no word times, so no ``words.ctm`` is written.

The 8-channel audio goes into ``wav.scp`` as it is (the stage script's format
stage keeps channel 0); ``--wav_format sox`` writes a ``sox <wav> -t wav - remix
1 |`` pipe instead for tools that need mono input.

Every TextGrid is read and checked before anything is written: a malformed one
stops the run with its file and line (``--skip_bad`` skips the session with a
warning instead).  A missing part is an error unless ``--allow_missing``.
"""

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger("prepare_alimeeting")


def get_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="prepare_alimeeting", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpus_dir", required=True, help="dir with Train_Ali_far, Eval_Ali(_far), Test_Ali(_far)")
    p.add_argument("--out_dir", default="data", help="where <set>_far data dirs go")
    p.add_argument("--sets", nargs="+", default=["train", "eval", "test"], choices=["train", "eval", "test"])
    p.add_argument("--wav_format", choices=["path", "sox"], default="path", help="wav.scp: file path or sox pipe to channel 1")
    p.add_argument("--suffix", default="_far", help="data dir name suffix")
    p.add_argument("--allow_missing", action="store_true", help="skip parts that are not there")
    p.add_argument("--skip_bad", action="store_true", help="skip malformed sessions with a warning instead of stopping")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Prepare the data dirs; return the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    import soundfile as sf
    from tqdm import tqdm

    from espnet_tagspeech.corpora.alimeeting import PARTS, find_part_dir, list_sessions, load_session, session_audio
    from espnet_tagspeech.corpora.datadir import Recording, write_prepared_sets
    from espnet_tagspeech.corpora.problems import Problems
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError

    if not Path(args.corpus_dir).is_dir():
        raise SystemExit(f"prepare_alimeeting: --corpus_dir {args.corpus_dir} is not a directory")
    problems = Problems(strict=not args.skip_bad)
    prepared = {}
    try:
        check_writable(args.out_dir)
        for name in args.sets:
            part = PARTS[name]
            part_dir = find_part_dir(args.corpus_dir, part)
            if part_dir is None:
                msg = f"no {part}_Ali_far/textgrid_dir under {args.corpus_dir} (or {part}_Ali/)"
                if args.allow_missing:
                    logger.warning("skipping %s: %s", name, msg)
                    continue
                raise SystemExit(f"prepare_alimeeting: {msg}")
            sessions = list_sessions(part_dir)
            if not sessions:
                raise SystemExit(f"prepare_alimeeting: {part_dir}/textgrid_dir has no .TextGrid files")
            recordings, turns = [], []
            for tg in tqdm(sessions, desc=f"AliMeeting {name}", unit="session", disable=None):
                before = len(problems)
                session_turns = load_session(tg, problems)
                if len(problems) > before:
                    continue  # skipped (non-strict): leave the whole session out
                session = tg.name.split(".")[0]
                try:
                    audio = session_audio(part_dir, session)
                    info = sf.info(str(audio))
                except DataFormatError as err:
                    problems.report(err)
                    continue
                except Exception as e:  # libsndfile's errors
                    problems.report(DataFormatError(str(audio), None, f"cannot read audio header ({e})"))
                    continue
                wav = str(audio.resolve())
                if args.wav_format == "sox":
                    wav = f"sox {shlex.quote(wav)} -t wav - remix 1 |"
                recordings.append(Recording(session, wav, info.frames / info.samplerate))
                turns.extend(session_turns)
            prepared[name] = (recordings, turns)
    except DataFormatError as err:
        logger.error("%s", err)
        return 1
    return write_prepared_sets(prepared, args.out_dir, args.suffix, len(problems.found))


if __name__ == "__main__":
    sys.exit(main())
