"""Write an ESPnet-style RESULTS.md (and per_recording.json) from decode directories.

Each ``--decode_dir`` holds ``rttm`` and ``hyp.seglst.json`` from decoding;
the matching ``--ref_dir`` is a Kaldi data dir with ``rttm``, optional
``uem`` and ``ref.seglst.json``. Several pairs may be given (same order).

Example::

    python -m espnet_tagspeech.bin.tagspeech_results \\
        --decode_dir exp/tagspeech/decode_dev --ref_dir data/dev \\
        --config conf/tuning/train_tagspeech.yaml --out exp/tagspeech/RESULTS.md
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

logger = logging.getLogger("tagspeech_results")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--decode_dir", nargs="+", required=True)
    p.add_argument("--ref_dir", nargs="+", required=True)
    p.add_argument("--dataset", nargs="+", help="names for the table (default: ref dir names)")
    p.add_argument("--config", help="model config path, recorded in the header")
    p.add_argument("--out", help="RESULTS.md path (default: <first decode_dir>/RESULTS.md); "
                                 "per_recording.json is written beside it")
    p.add_argument("--tcp_collar", type=float, default=5.0, help="tcpWER collar (s)")
    p.add_argument("--title", default="TagSpeech", help="section title")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Score every pair, write RESULTS.md and per_recording.json, print the table."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.scoring.io import write_json
    from espnet_tagspeech.scoring.results import (
        RESULT_HEADERS,
        collect_environment,
        evaluate_dataset,
        format_results_md,
    )
    from espnet_tagspeech.scoring.table import format_table

    if len(args.decode_dir) != len(args.ref_dir):
        logger.error("give as many --ref_dir (%d) as --decode_dir (%d)",
                     len(args.ref_dir), len(args.decode_dir))
        return 2
    names = args.dataset or [None] * len(args.ref_dir)
    if len(names) != len(args.ref_dir):
        logger.error("give one --dataset name per --ref_dir")
        return 2
    results = []
    try:
        for dec, ref, name in zip(args.decode_dir, args.ref_dir, names):
            logger.info("scoring %s against %s", dec, ref)
            results.append(evaluate_dataset(dec, ref, name, args.tcp_collar))
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    out = Path(args.out) if args.out else Path(args.decode_dir[0]) / "RESULTS.md"
    env = collect_environment(args.config, repo_dir=Path(__file__).resolve().parent)
    text = format_results_md(env, results, args.title)
    with atomic_write(out) as f:
        f.write(text)
    per_path = out.parent / "per_recording.json"
    write_json(per_path, {r.dataset: {"summary": r.summary, "recordings": r.per_recording}
                          for r in results})
    print(format_table(RESULT_HEADERS, [r.row() for r in results], "github"))
    logger.info("wrote %s and %s", out, per_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
