"""Dump the frozen encoders' outputs of every cut (stage 6), for training on features.

With both encoders frozen, a training step then runs only the projectors and
the LLM (:mod:`espnet_tagspeech.model.stream_cache`).

Example::

    python -m espnet_tagspeech.bin.dump_streams --train_config conf/train_tagspeech_mini.yaml \\
        --init_param exp/pretrain_mini/init.pth --tokenizer dump/mini/tokenizer/tokenizer.model \\
        --data_dir dump/mini/raw/train_cuts --out_dir dump/mini/streams/train
"""

import argparse
import logging
import sys
from typing import List, Optional


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train_config", required=True, help="the model's training yaml")
    p.add_argument("--init_param", default=None, help="pre-trained encoder weights (stage 5 init.pth)")
    p.add_argument("--tokenizer", default=None, help="overrides llm_conf.tokenizer")
    p.add_argument("--data_dir", required=True, help="cuts data dir (wav.scp, utt2dur)")
    p.add_argument("--out_dir", required=True, help="where <name>.ark/.scp go")
    p.add_argument("--batch_sec", type=float, default=120.0, help="padded audio seconds per batch")
    p.add_argument("--top_k", type=int, default=8, help="CTC posteriors kept per frame")
    p.add_argument("--num_threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (dump_streams) %(levelname)s: %(message)s")
    import torch

    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.model.stream_cache import dump_stream_features
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    overrides = {"llm_conf": {"tokenizer": args.tokenizer}} if args.tokenizer else None
    try:
        model = TagSpeechTask.build_model_from_yaml(args.train_config, overrides, args.init_param)
        n = dump_stream_features(model, args.data_dir, args.out_dir, args.batch_sec, args.top_k)
    except (DataFormatError, ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        return 1
    logging.info("dumped the streams of %d cuts of %s into %s", n, args.data_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
