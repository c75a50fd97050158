"""Word metrics of speaker-attributed transcripts via meeteval.

cpWER, ORC-WER, tcpWER (collar in seconds), speaker-agnostic WER and the
speaker-count accuracy / mean absolute error, per recording and overall.
Inputs are SegLST (``.json``) or STM (``.stm``) files.

Example::

    python -m espnet_tagspeech.bin.score_words -r ref.seglst.json -h hyp.seglst.json --collar 5

(``-h`` is the hypothesis; use ``--help`` for this text.)
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger("score_words")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options (``-h`` names the hypothesis, help is ``--help``)."""
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    p.add_argument("--help", action="help", help="show this help and exit")
    p.add_argument("-r", "--ref", required=True, help="reference SegLST (.json) or STM")
    p.add_argument("-h", "--hyp", required=True, help="hypothesis SegLST (.json) or STM")
    p.add_argument("--collar", type=float, default=5.0, help="tcpWER collar in seconds")
    p.add_argument("--metrics", nargs="+", default=["cpwer", "orcwer", "tcpwer", "wer"],
                   choices=["cpwer", "orcwer", "tcpwer", "wer"],
                   help="word metrics to compute (ORC-WER's matching grows exponentially with "
                        "a recording's segments: leave it out for long or badly segmented hypotheses)")
    p.add_argument("--table_fmt", choices=("simple", "github", "tsv"), default="simple")
    p.add_argument("--json", help="also write all numbers to this JSON file")
    return p


WORD_COLUMNS = {"cpwer": "cpWER", "orcwer": "ORC-WER", "tcpwer": "tcpWER", "wer": "WER"}


def word_table_rows(scores: "object") -> List[List[object]]:
    """Rows ``recording, <each computed metric>, #ref spk, #hyp spk`` plus overall
    (metrics in the order of :data:`WORD_COLUMNS`)."""
    o = scores.overall  # type: ignore[attr-defined]
    names = [m for m in WORD_COLUMNS if m in o]
    rows: List[List[object]] = []
    for rec, ms in scores.per_recording.items():  # type: ignore[attr-defined]
        n_ref, n_hyp = scores.speaker_counts[rec]  # type: ignore[attr-defined]
        rows.append([rec, *(ms[m].rate for m in names), n_ref, n_hyp])
    rows.append(["*** OVERALL ***", *(o[m].rate for m in names), None, None])
    return rows


def word_headers(scores: "object") -> List[str]:
    """The header of :func:`word_table_rows`."""
    names = [WORD_COLUMNS[m] for m in WORD_COLUMNS if m in scores.overall]  # type: ignore[attr-defined]
    return ["Recording", *names, "#ref spk", "#hyp spk"]


def main(argv: Optional[List[str]] = None) -> int:
    """Run the word scorer; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import load_turns
    from espnet_tagspeech.scoring.io import write_json
    from espnet_tagspeech.scoring.table import format_table
    from espnet_tagspeech.scoring.wer import score_words

    if args.collar < 0:
        logger.error("--collar must be >= 0")
        return 2
    try:
        ref = load_turns(args.ref)
        hyp = load_turns(args.hyp)
        if args.json:
            check_writable(Path(args.json).parent)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    if not ref:
        logger.error("no reference segments in %s", args.ref)
        return 1
    try:
        scores = score_words(ref, hyp, collar=args.collar, metrics=list(dict.fromkeys(args.metrics)))
    except RuntimeError as e:  # meeteval refuses recordings of over 20 speakers
        logger.error("%s against %s: meeteval refused to score: %s", args.hyp, args.ref,
                     " ".join(str(e).split()[:25]))
        return 1
    print(format_table(word_headers(scores), word_table_rows(scores), args.table_fmt))
    collar = f"   (tcpWER collar {args.collar:g} s)" if "tcpwer" in scores.overall else ""
    print(f"speaker count accuracy: {scores.speaker_count_accuracy:.2f} %   "
          f"mean absolute error: {scores.speaker_count_mae:.3f}{collar}")
    if args.json:
        write_json(args.json, scores.as_dict())
        logger.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
