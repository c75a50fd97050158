"""Pre-train the small random-init encoders of a TagSpeech model (stage 5).

The parts, their objectives and the config are described in
:mod:`espnet_tagspeech.pretrain`; re-running the same command resumes a killed
run from its last checkpoint.  Writes ``<output_dir>/init.pth`` (for
``tagspeech_train --init_param``) and ``pretrain_result.yaml``.

Example::

    python -m espnet_tagspeech.bin.pretrain --config conf/pretrain_tagspeech_mini.yaml \\
        --train_dir dump/raw/train_cuts --valid_dir dump/raw/dev_cuts \\
        --train_rttm dump/raw/train/rttm --valid_rttm dump/raw/dev/rttm \\
        --train_ctm dump/raw/train/words.ctm --valid_ctm dump/raw/dev/words.ctm \\
        --tokenizer data/token/tokenizer.model --output_dir exp/pretrain
"""

import argparse
import logging
import sys
from typing import List, Optional


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="pretrain yaml (model_config, semantic, speaker, ...)")
    p.add_argument("--train_dir", required=True, help="cuts data dir (wav.scp, text, cut2reco)")
    p.add_argument("--valid_dir", required=True)
    p.add_argument("--train_rttm", default=None, help="recording RTTM of the training set (speaker part)")
    p.add_argument("--valid_rttm", default=None)
    p.add_argument("--train_ctm", default=None,
                   help="recording word CTM of the training set, channel = speaker (t-SOT targets)")
    p.add_argument("--valid_ctm", default=None)
    p.add_argument("--model_config", default=None,
                   help="the training config of the model (overrides the yaml's model_config)")
    p.add_argument("--tokenizer", default=None, help="overrides llm_conf.tokenizer")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--ngpu", type=int, default=0)
    return p


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: a user's mistake exits with its message, not a traceback."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.pretrain.config import PretrainConfig
    from espnet_tagspeech.pretrain.trainer import PretrainData, run_pretrain

    try:
        conf = PretrainConfig.from_yaml(args.config, args.model_config)
        data = PretrainData(args.train_dir, args.valid_dir, args.train_rttm, args.valid_rttm,
                            args.train_ctm, args.valid_ctm, args.tokenizer)
        run_pretrain(conf, data, args.output_dir, "cuda" if args.ngpu > 0 else "cpu")
    except (DataFormatError, ValueError, FileNotFoundError, KeyError) as e:
        sys.exit(f"pretrain: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
