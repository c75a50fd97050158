"""Fixtures shared by the decoding tests."""

import pytest


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    """The tiny recipe's sentencepiece tokenizer (digits and answer markup as single tokens)."""
    from espnet_tagspeech.model.tiny import setup_tiny
    from espnet_tagspeech.model.tokenizer import SentencePieceTokenizer

    work = tmp_path_factory.mktemp("tok")
    setup_tiny(str(work), num_cuts=3)
    return SentencePieceTokenizer(str(work / "token" / "tokenizer.model"))
