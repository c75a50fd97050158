"""Tokenizers of the LLM: a Hugging Face tokenizer or a small sentencepiece model.

Both expose the same small interface (:class:`AbsTokenizer`): encode/decode the
target strings, the EOS id, the ids of the ten digits (for time anchors) and,
when the tokenizer has one, a chat template for the prompt.
"""

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import List, Optional, Sequence

NEWLINE_SYMBOL = "<nl>"


class AbsTokenizer(ABC):
    """What the model needs from a tokenizer.

    :meth:`decode` remembers its last answers: during a search every logits
    processor reads the same partial answer at each step, so only the first one
    pays for decoding it.
    """

    _MEMO_SIZE = 4096  # partial answers remembered (a batch's rows x a few processors' steps)

    @abstractmethod
    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` (no special tokens added)."""

    @abstractmethod
    def _decode(self, ids: List[int]) -> str:
        """Text of ``ids`` (special tokens dropped), uncached."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens dropped); ``ids`` may be a tensor or array."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        key = tuple(int(i) for i in ids)
        memo = self.__dict__.setdefault("_memo", {})
        text = memo.get(key)
        if text is None:
            if len(memo) >= self._MEMO_SIZE:
                memo.clear()
            text = memo[key] = self._decode(list(key))
        return text

    @property
    @abstractmethod
    def eos_id(self) -> int:
        """Id ending an answer."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct ids the tokenizer can produce."""

    def chat_prompt(self, user_content: str) -> Optional[str]:
        """The rendered chat prompt around ``user_content``, or ``None`` without a template."""
        return None

    def digit_ids(self) -> List[int]:
        """Ids of ``"0"`` .. ``"9"``, each of which must be a single token.

        Raises:
            ValueError: a digit that the tokenizer splits or cannot represent.
        """
        out = []
        for d in "0123456789":
            ids = self.encode(d)
            if len(ids) != 1:
                raise ValueError(
                    f"tokenizer encodes digit {d!r} as {len(ids)} tokens {ids}; time "
                    "anchors need every digit to be one token (train the sentencepiece "
                    "model with split digits and digits as user-defined symbols)"
                )
            out.append(ids[0])
        return out


class SentencePieceTokenizer(AbsTokenizer):
    """A sentencepiece model trained on the targets (tiny/mini LLMs).

    Newlines are mapped to the user-defined symbol ``<nl>`` (sentencepiece
    trains on lines and cannot hold a raw newline).

    Args:
        model_path: The ``.model`` file.
    """

    def __init__(self, model_path: str) -> None:
        import sentencepiece as spm

        if not Path(model_path).is_file():
            raise FileNotFoundError(f"sentencepiece model not found: {model_path}")
        self.model_path = str(model_path)
        self.sp = spm.SentencePieceProcessor(model_file=self.model_path)
        if self.sp.piece_to_id(NEWLINE_SYMBOL) == self.sp.unk_id():
            raise ValueError(
                f"{model_path}: the sentencepiece model lacks the user-defined symbol "
                f"{NEWLINE_SYMBOL!r} for newlines (train it with bin/train_tokenizer.py)"
            )
        if self.sp.eos_id() < 0:
            raise ValueError(f"{model_path}: the sentencepiece model has no EOS id")

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text``."""
        return list(self.sp.encode(text.replace("\n", NEWLINE_SYMBOL)))

    def _decode(self, ids: List[int]) -> str:
        """Text of ``ids``; control ids (EOS, padding) are skipped."""
        if "_control" not in self.__dict__:
            self._control = {i for i in range(self.sp.get_piece_size()) if self.sp.is_control(i)}
        keep = [i for i in ids if i not in self._control]
        return self.sp.decode(keep).replace(NEWLINE_SYMBOL, "\n")

    @property
    def eos_id(self) -> int:
        """The sentencepiece EOS id."""
        return int(self.sp.eos_id())

    @property
    def vocab_size(self) -> int:
        """Size of the sentencepiece vocabulary."""
        return int(self.sp.get_piece_size())


class HFTokenizer(AbsTokenizer):
    """A Hugging Face ``AutoTokenizer`` (the LLM's own).

    Args:
        name_or_path: Local directory or hub id.
        local_files_only: Never touch the network.
    """

    def __init__(self, name_or_path: str, local_files_only: bool = True) -> None:
        from transformers import AutoTokenizer

        self.name_or_path = name_or_path
        self.tok = AutoTokenizer.from_pretrained(
            name_or_path, local_files_only=local_files_only
        )
        if self.tok.eos_token_id is None:
            raise ValueError(f"tokenizer {name_or_path} has no EOS token")

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` without BOS/EOS."""
        return list(self.tok.encode(text, add_special_tokens=False))

    def _decode(self, ids: List[int]) -> str:
        """Text of ``ids`` with special tokens dropped."""
        return self.tok.decode(ids, skip_special_tokens=True)

    @property
    def eos_id(self) -> int:
        """The tokenizer's EOS id."""
        return int(self.tok.eos_token_id)

    @property
    def vocab_size(self) -> int:
        """Number of ids including added tokens."""
        return len(self.tok)

    def chat_prompt(self, user_content: str) -> Optional[str]:
        """Render one user turn with the generation prompt, if there is a template."""
        if not getattr(self.tok, "chat_template", None):
            return None
        return self.tok.apply_chat_template(
            [{"role": "user", "content": user_content}],
            tokenize=False,
            add_generation_prompt=True,
        )


def build_tokenizer(
    tokenizer: Optional[str] = None,
    model_name_or_path: Optional[str] = None,
    local_files_only: bool = True,
) -> AbsTokenizer:
    """Build the tokenizer named in ``llm_conf``.

    Args:
        tokenizer: A sentencepiece ``.model`` file, or a HF tokenizer dir / hub id.
        model_name_or_path: The LLM's dir / hub id, used when ``tokenizer`` is unset.
        local_files_only: Never touch the network for HF tokenizers.

    Raises:
        ValueError: neither argument given.
    """
    if tokenizer and str(tokenizer).endswith(".model"):
        return SentencePieceTokenizer(tokenizer)
    source = tokenizer or model_name_or_path
    if not source:
        raise ValueError(
            "llm_conf needs `tokenizer` (a sentencepiece .model or HF tokenizer) "
            "or `model_name_or_path`"
        )
    return HFTokenizer(source, local_files_only=local_files_only)


# ----------------------------------------------------------------------------- training

# pieces of their own: the markup of the target format and the t-SOT channel change
MARKUP = [
    "<text>", "</text>", "<speaker>", "</speaker>", "<spk", "/>",
    'id="', 'g="', 't="', "<", ">", '"', "=", "/", "-", ".", ",",
    "<cc>",  # t-SOT channel change (espnet_tagspeech.tsot.CHANNEL_CHANGE)
]


def train_sentencepiece(
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
    _drop_work_dir(Path(str(prefix) + ".model"))
    tok = SentencePieceTokenizer(str(prefix) + ".model")
    for t in targets:
        if tok.decode(tok.encode(t)) != t:
            raise RuntimeError(f"tokenizer round trip fails for target {t[:80]!r}")
    return tok


def _drop_work_dir(model_file: Path) -> None:
    """Record the model prefix as plain ``tokenizer``, not the temporary dir it was trained in.

    sentencepiece stores its ``model_prefix`` in the model: with the random name of
    the work dir, two trainings on the same text gave different files.
    """
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    proto.trainer_spec.model_prefix = "tokenizer"
    model_file.write_bytes(proto.SerializeToString())
