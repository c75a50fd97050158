"""Cut raw recordings into decoding windows with a voice activity detector (no reference).

Example::

    python -m espnet_tagspeech.bin.segment_recordings --in_dir dump/raw/meeting \\
        --out_dir dump/raw/meeting_cuts --config conf/segment_vad.yaml --max_window 14 --nj 2

The input is a Kaldi dir with ``wav.scp`` (``reco2dur`` optional).  The
output is what stage 3 of the recipe gives decoding: one wav file per window
under ``data/``, ``wav.scp``, ``utt2spk`` / ``spk2utt`` (window -> recording),
``utt2dur``, ``cut2reco`` (``window recording start end``) and ``segment.yaml``
(the settings used); window ids are ``<recording>_<start ms>_<end ms>`` (7
digits each), as ``make_cuts`` names cuts.  The settings are a
:class:`~espnet_tagspeech.segment.config.SegmentConfig`: defaults, then the
``--config`` yaml, then flags.

Speech regions closer than ``--merge_gap`` share a window; a window longer
than ``--max_window`` is split at its widest pause, and continuous speech at
its quietest moment near the even split.  Window edges in pauses get ``--pad``
seconds of context.  Bad input (no ``wav.scp``, unreadable, empty or
non-finite audio) is reported by file, line and key, and nothing is written.
"""

import argparse
import logging
import sys
from typing import List, Optional

logger = logging.getLogger("segment_recordings")


def get_parser() -> argparse.ArgumentParser:
    """The command-line options (the segmentation flags are :class:`SegmentConfig`'s fields)."""
    from espnet_tagspeech.segment.config import SegmentConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", help="Kaldi dir with wav.scp (one recording per line)")
    p.add_argument("--out_dir", help="dir of windows to write (replaced whole)")
    p.add_argument("--print_config", action="store_true",
                   help="print the settings the options give, as the out dir's segment.yaml holds them, "
                        "and stop (no --in_dir / --out_dir needed)")  # fmt: skip
    p.add_argument("--channel", type=int, default=0, help="channel kept from multichannel audio")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--log_level", default="INFO")
    SegmentConfig.add_arguments(p, config_flag="--config")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status (0 done, 1 bad input, 2 bad options)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")  # fmt: skip

    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.segment.config import SegmentConfig
    from espnet_tagspeech.segment.recordings import segment_data_dir
    from espnet_tagspeech.segment.vad import SegmenterUnavailable

    try:
        config = SegmentConfig.from_args(args)
        if args.print_config:
            sys.stdout.write(config.to_yaml())
            return 0
        if not (args.in_dir and args.out_dir):
            raise ValueError("--in_dir and --out_dir are required")
        segmenter = config.build_segmenter()
        if args.nj < 1 or args.channel < 0:
            raise ValueError(f"need --nj >= 1 and --channel >= 0, got {args.nj}, {args.channel}")
    except (FileNotFoundError, ValueError) as e:
        logger.error("bad option: %s", e)
        return 2
    logger.info("segmentation: %s", config.to_dict())
    try:
        segment_data_dir(args.in_dir, args.out_dir, segmenter, config, nj=args.nj, channel=args.channel)
    except (DataFormatError, SegmenterUnavailable) as e:
        logger.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
