"""Cut raw recordings into decoding windows with a voice activity detector (no reference).

Example::

    python -m espnet_tagspeech.bin.segment_recordings --in_dir dump/raw/meeting \\
        --out_dir dump/raw/meeting_cuts --segmenter silero --max_window 20 --nj 2

The input is a Kaldi dir with ``wav.scp`` (``reco2dur`` optional).  The
output is what stage 3 of the recipe gives decoding: one wav file per window
under ``data/``, ``wav.scp``, ``utt2spk`` / ``spk2utt`` (window -> recording),
``utt2dur`` and ``cut2reco`` (``window recording start end``); window ids are
``<recording>_<start ms>_<end ms>`` (7 digits each), as ``make_cuts`` names cuts.

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
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True, help="Kaldi dir with wav.scp (one recording per line)")
    p.add_argument("--out_dir", required=True, help="dir of windows to write (replaced whole)")
    p.add_argument("--segmenter", choices=("silero", "energy"), default="silero",
                   help="silero: Silero VAD network; energy: frame energy (clean audio only)")  # fmt: skip
    p.add_argument("--max_window", type=float, default=20.0,
                   help="longest window (s): the training cuts' max_cut_dur")  # fmt: skip
    p.add_argument("--merge_gap", "--min_pause", dest="merge_gap", type=float, default=0.2,
                   help="speech regions closer than this (s) share a window")  # fmt: skip
    p.add_argument("--pad", type=float, default=0.1, help="context added at window edges in pauses (s)")
    p.add_argument("--min_speech", type=float, default=0.0, help="drop windows with less speech (s)")
    p.add_argument("--vad_threshold", type=float, default=0.5, help="silero: speech probability threshold")
    p.add_argument("--channel", type=int, default=0, help="channel kept from multichannel audio")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--log_level", default="INFO")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status (0 done, 1 bad input, 2 bad options)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")  # fmt: skip

    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.segment.recordings import segment_data_dir
    from espnet_tagspeech.segment.vad import SegmenterUnavailable, build_segmenter
    from espnet_tagspeech.segment.windows import WindowConfig

    try:
        config = WindowConfig(max_window=args.max_window, merge_gap=args.merge_gap, pad=args.pad,
                              min_speech=args.min_speech)  # fmt: skip
        options = {"threshold": args.vad_threshold} if args.segmenter == "silero" else {}
        segmenter = build_segmenter(args.segmenter, **options)
        if args.nj < 1 or args.channel < 0:
            raise ValueError(f"need --nj >= 1 and --channel >= 0, got {args.nj}, {args.channel}")
    except ValueError as e:
        logger.error("bad option: %s", e)
        return 2
    try:
        segment_data_dir(args.in_dir, args.out_dir, segmenter, config, nj=args.nj, channel=args.channel)
    except (DataFormatError, SegmenterUnavailable) as e:
        logger.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
