"""Plot reference vs hypothesis diarization timelines with their DER errors (PNG per recording).

Example::

    python -m espnet_tagspeech.bin.plot_timeline --ref ref.rttm --hyp hyp.rttm \\
        --out_dir plots --recordings meeting1 --start 600 --end 900
"""

import argparse
import logging
import sys
from typing import List, Optional

logger = logging.getLogger("plot_timeline")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ref", required=True, help="reference RTTM")
    p.add_argument("--hyp", required=True, help="hypothesis RTTM")
    p.add_argument("--out_dir", required=True, help="where <recording>.png go")
    p.add_argument("--recordings", nargs="+", help="only these recording ids")
    p.add_argument("--start", type=float, help="view start (s)")
    p.add_argument("--end", type=float, help="view end (s)")
    p.add_argument("--uem", help="UEM file (default: ref + hyp extent)")
    p.add_argument("--collar", type=float, default=0.0, help="DER collar for the error row")
    p.add_argument("--width_px", type=int, default=2400, help="image width in pixels")
    p.add_argument("--dpi", type=int, default=100)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Write the PNGs; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_rttm, read_uem
    from espnet_tagspeech.scoring.plot import plot_timelines
    from espnet_tagspeech.scoring.regions import normalize_uem

    if args.start is not None and args.end is not None and args.end <= args.start:
        logger.error("--end must be after --start")
        return 2
    if args.width_px < 200:
        logger.error("--width_px must be at least 200")
        return 2
    try:
        ref = read_rttm(args.ref)
        hyp = read_rttm(args.hyp)
        uem = normalize_uem(read_uem(args.uem)) if args.uem else None
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    try:
        paths = plot_timelines(
            ref, hyp, args.out_dir, recordings=args.recordings, uem=uem,
            collar=args.collar, start=args.start, end=args.end,
            width_px=args.width_px, dpi=args.dpi,
        )
    except KeyError as e:
        logger.error("%s", e.args[0])
        return 1
    for p in paths:
        logger.info("wrote %s", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
