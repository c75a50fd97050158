#!/usr/bin/env python3
"""SOT ASR output of decoding windows -> recording-level SegLST (and the pseudo-speaker RTTM).

Reads ESPnet's ``1best_recog/text`` files (``<window> <words with <sc>>``) and the
windows' ``cut2reco`` (window -> recording, start, end).  The ASR gives no speaker
identities and no times: every ``<sc>``-separated segment of a window becomes its own
pseudo-speaker ``<window>-<k>`` spanning the whole window (``peerlib.sot_windows_to_turns``).
Windows of ``cut2reco`` missing from the output count as decoded to nothing (a warning).

Example::

    python local/sot_to_seglst.py --cut2reco data/sot/test/cut2reco \\
        --out exp/sot/decode_test/hyp.seglst.json exp/sot/decode_test/logdir/output.*/1best_recog/text
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("sot_to_seglst")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cut2reco", required=True, help="window -> recording start end")
    p.add_argument("--out", required=True, help="SegLST JSON to write")
    p.add_argument("text", nargs="+", help="ESPnet 1best_recog/text file(s)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Convert; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import write_seglst
    from espnet_tagspeech.data.kaldi import read_segments, read_text
    from peerlib import sot_windows_to_turns

    try:
        cut2reco = read_segments(args.cut2reco)
        hyps = {}
        for path in args.text:
            for key, text in read_text(path).items():
                if key in hyps:
                    raise DataFormatError(path, None, f"window {key!r} decoded twice")
                if key not in cut2reco:
                    raise DataFormatError(path, None, f"window {key!r} is not in {args.cut2reco}")
                hyps[key] = text
        turns = sot_windows_to_turns(hyps, cut2reco)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    missing = sorted(set(cut2reco) - set(hyps))
    if missing:
        logger.warning("%d window(s) of %s have no output (scored as silence), e.g. %s",
                       len(missing), args.cut2reco, missing[0])
    write_seglst(args.out, turns)
    logger.info("%s: %d segments of %d windows, %d recordings", args.out, len(turns), len(hyps),
                len({t.recording for t in turns}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
