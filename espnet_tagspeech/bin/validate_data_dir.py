"""Check a Kaldi data dir; print every problem as ``file:line: message``.

Usage::

    python -m espnet_tagspeech.bin.validate_data_dir DIR [--no-text] [--no-audio-check | --check-audio]

Exits 1 if any error was found, 0 otherwise (warnings alone do not fail).
Kaldi's ``--no-feats`` is accepted and ignored; ``--no-wav`` is
``--no-audio-check``; ``--no-spk-sort`` drops the speaker-contiguity warning.
"""

import argparse
import logging
import sys
from typing import List, Optional

PROG = "validate_data_dir"


def get_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data_dir", help="Kaldi data directory")
    p.add_argument("--no-text", "--no_text", dest="text", action="store_false", help="text is optional")
    audio = p.add_mutually_exclusive_group()
    audio.add_argument(
        "--no-audio-check", "--no-wav", "--no_wav", dest="audio", action="store_const", const="none",
        help="do not look at audio (wav.scp becomes optional)",
    )
    audio.add_argument(
        "--check-audio", dest="audio", action="store_const", const="read",
        help="read every recording: sample rate, mono, non-empty, finite samples, length vs reco2dur",
    )
    p.set_defaults(audio="exists")
    p.add_argument("--sample-rate", type=int, default=16000, help="expected rate with --check-audio")
    p.add_argument("--tolerance", type=float, default=0.01, help="seconds allowed past a recording's end")
    p.add_argument("--no-spk-sort", "--no_spk_sort", dest="spk_sort", action="store_false")
    p.add_argument("--no-feats", "--no_feats", action="store_true", help="ignored (Kaldi compatibility)")
    p.add_argument("--no-warnings", action="store_true", help="print errors only")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the validator; return the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    from espnet_tagspeech.data.validate import validate_data_dir

    report = validate_data_dir(
        args.data_dir,
        text=args.text,
        audio=args.audio,
        sample_rate=args.sample_rate,
        tolerance=args.tolerance,
        spk_sort=args.spk_sort,
        progress=sys.stderr.isatty(),
    )
    for problem in report.problems:
        if not (problem.warning and args.no_warnings):
            print(problem)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
