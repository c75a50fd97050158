#!/usr/bin/env python3
"""The SegLST a perfect SOT ASR would give on the decoding windows: the reference's own
words, one pseudo-speaker per ``<sc>`` segment per window (``peerlib.reference_windows_sot``
then ``peerlib.sot_windows_to_turns``, as for the real SOT output).  Scored like the SOT
peer, it shows the cpWER that the pseudo-speaker convention alone costs.

Example::

    python local/reference_sot.py --ref ../tagspeech1/dump/mini/raw/test/ref.seglst.json \\
        --cut2reco data/sot/test/cut2reco --out exp/sot/decode_test/oracle_hyp.seglst.json
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("reference_sot")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="reference SegLST (.json) or STM")
    p.add_argument("--cut2reco", required=True, help="window -> recording start end")
    p.add_argument("--out", required=True, help="SegLST JSON to write")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Write the SegLST; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import load_turns, write_seglst
    from espnet_tagspeech.data.kaldi import read_segments
    from peerlib import reference_windows_sot, sot_windows_to_turns

    try:
        cut2reco = read_segments(args.cut2reco)
        turns = sot_windows_to_turns(reference_windows_sot(load_turns(args.ref), cut2reco), cut2reco)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    write_seglst(args.out, turns)
    logger.info("%s: %d segments of %d windows", args.out, len(turns), len(cut2reco))
    return 0


if __name__ == "__main__":
    sys.exit(main())
