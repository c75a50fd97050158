"""Repair a Kaldi data dir in place: keep ids all files agree on, sort, regenerate spk2utt.

Usage::

    python -m espnet_tagspeech.bin.fix_data_dir DIR [--utt-extra-files "f1 f2"] [--no-backup]

Originals go to ``DIR/.backup/``; every removed line is listed.
"""

import argparse
import logging
import sys
from typing import List, Optional

PROG = "fix_data_dir"


def get_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data_dir", help="Kaldi data directory")
    p.add_argument(
        "--utt-extra-files", "--utt_extra_files", default="",
        help="space-separated extra utterance-keyed files to filter",
    )
    p.add_argument(
        "--reco-extra-files", "--reco_extra_files", default="",
        help="space-separated extra recording-keyed files to filter",
    )
    p.add_argument("--tolerance", type=float, default=0.01, help="seconds allowed past a recording's end")
    p.add_argument("--no-backup", dest="backup", action="store_false", help="do not copy originals to .backup/")
    p.add_argument("--max-listed", type=int, default=20, help="removed lines listed per file")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Fix the data dir; return the exit status (1 on unreadable input)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.fix import fix_data_dir

    try:
        report = fix_data_dir(
            args.data_dir,
            utt_extra_files=args.utt_extra_files.split(),
            reco_extra_files=args.reco_extra_files.split(),
            tolerance=args.tolerance,
            backup=args.backup,
        )
    except DataFormatError as err:
        print(f"fix_data_dir: {err}", file=sys.stderr)
        return 1
    for line in report.lines(args.max_listed):
        print(line)
    total = sum(len(v) for v in report.removed.values())
    where = f"; originals in {report.backup_dir}" if report.backup_dir else ""
    print(f"{args.data_dir}: removed {total} lines{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
