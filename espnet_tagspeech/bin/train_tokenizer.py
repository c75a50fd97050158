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
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

MARKUP = [
    "<text>", "</text>", "<speaker>", "</speaker>", "<spk", "/>",
    'id="', 'g="', 't="', "<", ">", '"', "=", "/", "-", ".", ",",
    "<cc>",  # t-SOT channel change (espnet_tagspeech.tsot.CHANNEL_CHANGE)
]


def iter_targets(path: str) -> Iterator[Tuple[int, str, str]]:
    """``(line number, key, target)`` of a Kaldi ``text`` file (newlines unescaped).

    Raises:
        DataFormatError: no such file, a line that is not UTF-8, ends with a carriage
            return (a DOS line ending would become part of the target) or has no target.
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.serialization import line_to_target

    if not Path(path).is_file():
        raise DataFormatError(path, None, "no such text file")
    raw = Path(path).read_bytes()
    for lineno, bline in enumerate(raw.split(b"\n"), 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if line.endswith("\r"):
            raise DataFormatError(path, lineno, "line ends with a carriage return (DOS line ending)")
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) != 2:
            raise DataFormatError(path, lineno, f"key {parts[0]!r} has no target")
        yield lineno, parts[0], line_to_target(parts[1])


def read_targets(path: str) -> List[str]:
    """Targets of a Kaldi ``text`` file (newlines unescaped).

    Raises:
        DataFormatError: a line without a target, or no target at all.
    """
    from espnet_tagspeech.data.errors import DataFormatError

    out = [target for _, _, target in iter_targets(path)]
    if not out:
        raise DataFormatError(path, None, "no targets")
    return out


def train(
    targets: List[str],
    out_dir: str,
    vocab_size: int,
    model_type: str = "bpe",
    byte_fallback: bool = False,
) -> str:
    """Train the model; returns the path of ``tokenizer.model``.

    Raises:
        RuntimeError: a target that does not survive an encode/decode round trip.
    """
    import os
    import shutil
    import tempfile

    from espnet_tagspeech.data.atomic import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # sentencepiece writes its files itself: train beside them, then rename (atomic)
    work = Path(tempfile.mkdtemp(prefix=".tokenizer.", dir=out))
    try:
        model = _train_in(work, targets, vocab_size, model_type, byte_fallback)
        for suffix in (".vocab", ".model"):
            os.replace(work / f"tokenizer{suffix}", out / f"tokenizer{suffix}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with atomic_write(out / "vocab_size") as f:
        f.write(f"{model.vocab_size}\n")
    logging.info("trained %s: %d pieces", out / "tokenizer.model", model.vocab_size)
    return str(out / "tokenizer.model")


def _train_in(work: Path, targets: List[str], vocab_size: int, model_type: str, byte_fallback: bool):
    """Train ``work/tokenizer.{model,vocab}``; returns the checked tokenizer.

    Raises:
        RuntimeError: a target that does not survive an encode/decode round trip.
    """
    import sentencepiece as spm

    from espnet_tagspeech.model.llm import DEFAULT_INSTRUCTION
    from espnet_tagspeech.model.tokenizer import NEWLINE_SYMBOL, SentencePieceTokenizer

    prefix = work / "tokenizer"
    # Every printable ASCII character becomes a piece, so prompts and
    # instructions (lower case, punctuation) never map to <unk>.
    ascii_line = "".join(chr(c) for c in range(33, 127))
    extra = [ascii_line, DEFAULT_INSTRUCTION, "Answer:"]
    symbols = [NEWLINE_SYMBOL] + MARKUP + list("0123456789")
    sentences = [t.replace("\n", NEWLINE_SYMBOL) for t in targets] + extra
    needed = len(set("".join(sentences))) + len(symbols) + 2  # + <unk>, </s>
    if vocab_size < needed:
        logging.warning("vocab_size %d < %d characters and symbols: using %d", vocab_size, needed, needed)
        vocab_size = needed
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        split_digits=True,
        user_defined_symbols=symbols,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        hard_vocab_limit=False,
        byte_fallback=byte_fallback,
        unk_id=0,
        eos_id=1,
        bos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    tok = SentencePieceTokenizer(str(prefix) + ".model")
    for t in targets:
        if tok.decode(tok.encode(t)) != t:
            raise RuntimeError(f"tokenizer round trip fails for target {t[:80]!r}")
    return tok


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

    try:
        targets = read_targets(args.text)
        check_writable(args.out_dir)
    except DataFormatError as e:
        logging.error("%s", e)
        return 1
    train(targets, args.out_dir, args.vocab_size, args.model_type, args.byte_fallback)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
