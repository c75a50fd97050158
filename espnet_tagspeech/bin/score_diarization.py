"""Score diarization RTTMs: DER, JER, MISS, FA, CONF per file and overall (dscore semantics).

Example::

    python -m espnet_tagspeech.bin.score_diarization -r ref.rttm -s sys.rttm --collar 0.25

Reference recordings without system output are scored as all missed speech;
recordings only in the system output are listed in a warning and not scored.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger("score_diarization")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("-r", "--ref", nargs="+", metavar="RTTM", help="reference RTTM files")
    ref.add_argument("-R", "--ref_list", metavar="LIST", help="file listing reference RTTMs")
    hyp = p.add_mutually_exclusive_group(required=True)
    hyp.add_argument("-s", "--sys", nargs="+", metavar="RTTM", help="system RTTM files")
    hyp.add_argument("-S", "--sys_list", metavar="LIST", help="file listing system RTTMs")
    p.add_argument("-u", "--uem", help="UEM file (default: extent of ref and sys turns)")
    p.add_argument("--collar", type=float, default=0.0,
                   help="seconds not scored either side of reference boundaries (default 0)")
    p.add_argument("--ignore_overlaps", action="store_true",
                   help="do not score overlapped reference speech in DER")
    p.add_argument("--step", type=float, default=0.01, help="JER frame step in seconds")
    p.add_argument("--jer_min_ref_dur", type=float, default=0.0,
                   help="drop reference speakers shorter than this from JER")
    p.add_argument("--table_fmt", choices=("simple", "github", "tsv"), default="simple")
    p.add_argument("--n_digits", type=int, default=2, help="decimals in the table")
    p.add_argument("--json", help="also write all numbers to this JSON file")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the scorer; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.scoring.diarization import score_diarization
    from espnet_tagspeech.scoring.io import (
        load_rttms,
        load_uem,
        read_file_list,
        report_table,
        write_json,
    )

    if args.collar < 0 or args.step <= 0:
        logger.error("--collar must be >= 0 and --step > 0")
        return 2
    try:
        ref_paths = args.ref or read_file_list(args.ref_list)
        sys_paths = args.sys or read_file_list(args.sys_list)
        ref = load_rttms(ref_paths)
        hyp = load_rttms(sys_paths)
        uem = load_uem(args.uem)
        if args.json:
            check_writable(Path(args.json).parent)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    if not ref:
        logger.error("no reference turns in %s", " ".join(map(str, ref_paths)))
        return 1
    unknown = sorted({t.recording for t in hyp} - {t.recording for t in ref})
    if unknown:
        logger.warning("system RTTM %s has recordings that no reference has, not scored: %s",
                       " ".join(map(str, sys_paths)), " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
    if uem is None:
        logger.warning("no UEM given: scoring from the earliest to the latest turn "
                       "of reference and system per recording")
    report = score_diarization(
        ref, hyp, uem=uem, collar=args.collar, ignore_overlaps=args.ignore_overlaps,
        step=args.step, jer_min_ref_dur=args.jer_min_ref_dur, progress=args.progress,
    )
    print(report_table(report, args.table_fmt, args.n_digits))
    if args.json:
        write_json(args.json, report.as_dict())
        logger.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
