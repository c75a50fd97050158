"""Train the token n-gram LM of transcript lines used by CTC beam search (stage 4).

Reads the cuts' Kaldi ``text`` (serialized targets), takes every text line's
words, encodes them as the CTC labels are encoded (each word with a leading
space, the line ended by the newline token) and counts n-grams
(:class:`espnet_tagspeech.decode.ctc.ngram.TokenNgramLM`).

Example::

    python -m espnet_tagspeech.bin.train_ngram --text dump/raw/train_cuts/text \\
        --tokenizer dump/tokenizer/tokenizer.model --order 4 --out dump/tokenizer/ngram.json
"""

import argparse
import logging
import sys
from typing import List, Optional


def line_labels(text_path: str, tokenizer) -> List[List[int]]:
    """The label sequence of every text line of every target in a Kaldi ``text`` file.

    Raises:
        DataFormatError: a target that does not parse (file and line).
    """
    from espnet_tagspeech.data.targets import iter_targets
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.serialization import TargetFormatError, parse
    from espnet_tagspeech.tsot import TURN_END, element_labels

    out = []
    for lineno, key, target in iter_targets(text_path):
        try:
            turns = parse(target, strict=True).turns
        except TargetFormatError as e:
            raise DataFormatError(text_path, lineno, f"key {key!r}: {e}") from None
        for t in turns:
            if t.words:
                out.append(element_labels([w.text for w in t.words] + [TURN_END], tokenizer)[0])
    if not out:
        raise DataFormatError(text_path, None, "no text lines to train an LM on")
    return out


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", required=True, help="Kaldi text of the training cuts (targets)")
    p.add_argument("--tokenizer", required=True, help="sentencepiece model or HF tokenizer dir")
    p.add_argument("--order", type=int, default=4, help="n of the n-gram")
    p.add_argument("--out", required=True, help="output json")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code (1 with a message naming the file on bad input)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from pathlib import Path

    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM
    from espnet_tagspeech.model.tokenizer import build_tokenizer

    try:
        if args.order < 1:
            raise ValueError(f"--order must be >= 1, got {args.order}")
        if args.tokenizer.endswith(".model") and not Path(args.tokenizer).is_file():
            raise DataFormatError(args.tokenizer, None, "no such tokenizer (run train_tokenizer first)")
        check_writable(Path(args.out).parent)
        try:
            tok = build_tokenizer(args.tokenizer)
        except (OSError, RuntimeError) as e:  # sentencepiece / transformers on a file that is no tokenizer
            raise DataFormatError(args.tokenizer, None, f"cannot load the tokenizer ({e})") from None
        lines = line_labels(args.text, tok)
    except (DataFormatError, ValueError) as e:
        logging.error("%s", e)
        return 1
    lm = TokenNgramLM.train(lines, args.order, tok.vocab_size)
    lm.save(args.out)
    logging.info("wrote %s: %d-gram LM of %d lines, %d tokens", args.out, args.order, len(lines),
                 sum(len(x) for x in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
