"""Fixtures of the simulator tests: one tiny generated corpus and a shared word cache."""

from pathlib import Path

import pytest

from espnet_tagspeech.bin import simulate_meetings
from espnet_tagspeech.simulate.voices import EspeakNotFoundError, check_espeak

TINY = ["--num_meetings", "3", "--min_speakers", "2", "--max_speakers", "3",
        "--min_duration", "12", "--max_duration", "18", "--vocab_scale", "0.3"]  # fmt: skip


@pytest.fixture(scope="session")
def word_cache(tmp_path_factory) -> Path:
    """A word cache shared by every simulator test of the session."""
    try:
        check_espeak()
    except EspeakNotFoundError:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("wordcache")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, word_cache) -> Path:
    """A data dir of 3 short meetings (seed 7, train split)."""
    out = tmp_path_factory.mktemp("tiny") / "data"
    rc = simulate_meetings.main(["--out_dir", str(out), "--cache_dir", str(word_cache),
                                 "--seed", "7", "--split", "train", "--nj", "2"] + TINY)  # fmt: skip
    assert rc == 0
    return out
