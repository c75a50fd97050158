"""Write an ESPnet-style RESULTS.md (and per_recording.json) from decode directories.

Each ``--decode_dir`` holds ``rttm`` and ``hyp.seglst.json`` from decoding
(and ``parse_warnings`` from ``merge_decodes``: how many cuts had answers the
parser warned about); the matching ``--ref_dir`` is a Kaldi data dir with
``rttm``, optional ``uem``, ``ref.seglst.json`` and optional ``words.ctm``
(reference word times, needed for the overlapped-word WER). Several pairs may
be given (same order), also several decodings (systems) of one test set: each
table row is ``dataset | system``.

Example::

    python -m espnet_tagspeech.bin.tagspeech_results \\
        --decode_dir exp/tagspeech/decode_llm/test exp/tagspeech/decode_ctc/test \\
        --ref_dir data/test data/test --dataset test test \\
        --system "TagSpeech (LLM)" "cascade (CTC + clustering)" \\
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
    p.add_argument("--system", nargs="+",
                   help="one system label per --decode_dir (default: the decode dir's name, or "
                        "its parent's name when the decode dir is named like the dataset)")
    p.add_argument("--config", help="model config path, recorded in the header")
    p.add_argument("--out", help="RESULTS.md path (default: <first decode_dir>/RESULTS.md); "
                                 "per_recording.json ({dataset: {system: ...}}) is written beside it")
    p.add_argument("--tcp_collar", type=float, default=5.0, help="tcpWER collar (s)")
    p.add_argument("--title", default="TagSpeech", help="section title")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Score every pair, write RESULTS.md and per_recording.json, print the table."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import atomic_write, check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.scoring.io import write_json
    from espnet_tagspeech.scoring.results import (
        collect_environment,
        default_system_name,
        evaluate_dataset,
        format_results_md,
        results_json,
        results_table,
    )

    if len(args.decode_dir) != len(args.ref_dir):
        logger.error("give as many --ref_dir (%d) as --decode_dir (%d)",
                     len(args.ref_dir), len(args.decode_dir))
        return 2
    names = args.dataset or [None] * len(args.ref_dir)
    if len(names) != len(args.ref_dir):
        logger.error("give one --dataset name per --ref_dir")
        return 2
    systems = args.system or [None] * len(args.decode_dir)
    if len(systems) != len(args.decode_dir):
        logger.error("give one --system label per --decode_dir")
        return 2
    # Row labels are fixed before scoring so that a clash fails fast.
    names = [n or Path(r).name for n, r in zip(names, args.ref_dir)]
    systems = [s or default_system_name(d, n) for s, d, n in zip(systems, args.decode_dir, names)]
    labels = list(zip(names, systems))
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        logger.error("rows would share dataset and system %s: give distinct --system labels", twice)
        return 2
    out = Path(args.out) if args.out else Path(args.decode_dir[0]) / "RESULTS.md"
    results = []
    try:
        check_writable(out.parent)
        for dec, ref, name, system in zip(args.decode_dir, args.ref_dir, names, systems):
            logger.info("scoring %s (%s / %s) against %s", dec, name, system, ref)
            results.append(evaluate_dataset(dec, ref, name, args.tcp_collar, system))
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    env = collect_environment(args.config, repo_dir=Path(__file__).resolve().parent)
    text = format_results_md(env, results, args.title)
    with atomic_write(out) as f:
        f.write(text)
    per_path = out.parent / "per_recording.json"
    write_json(per_path, results_json(results))
    print(results_table(results))
    for r in results:
        print(r.warnings_line())
    logger.info("wrote %s and %s", out, per_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
