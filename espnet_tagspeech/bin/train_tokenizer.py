"""Train a sentencepiece tokenizer on TagSpeech targets (for tiny / mini LLMs).

Reads a Kaldi ``text`` file (``key target`` with newlines escaped as ``\\n``)
and writes ``<out_dir>/tokenizer.model``.  Digits are single pieces, the markup of the
format (``<text>``, ``</speaker>``, ``<spk``, ``/>``, ``<``, ``>``, ``"``,
``=``, ``/``), a newline symbol and the t-SOT channel change ``<cc>`` are
user-defined pieces, every printable
ASCII character is a piece (prompts never hit ``<unk>``), and whitespace is
kept verbatim, so that ``decode(encode(target)) == target`` (checked).

Example::

    python -m espnet_tagspeech.bin.train_tokenizer --text data/train_cuts/text \\
        --out_dir data/token --vocab_size 500
"""

import argparse
import logging
import sys
from typing import List, Optional


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", required=True, help="Kaldi text file of escaped targets")
    p.add_argument("--out_dir", required=True, help="where tokenizer.model goes")
    p.add_argument("--vocab_size", type=int, default=500)
    p.add_argument("--model_type", default="bpe", choices=["bpe", "unigram", "char"])
    p.add_argument("--byte_fallback", action="store_true", help="unknown chars as bytes")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code (1 with a message naming the file on bad input)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.targets import read_targets
    from espnet_tagspeech.model.tokenizer import train_sentencepiece

    try:
        targets = read_targets(args.text)
        check_writable(args.out_dir)
    except DataFormatError as e:
        logging.error("%s", e)
        return 1
    train_sentencepiece(targets, args.out_dir, args.vocab_size, args.model_type, args.byte_fallback)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
