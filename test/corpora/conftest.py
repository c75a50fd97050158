"""Fixtures of the corpus tests: the small corpora of :mod:`corpus_fixtures`."""

from pathlib import Path

import pytest
from corpus_fixtures import build_alimeeting, build_ami


@pytest.fixture
def ami_corpus(tmp_path: Path) -> Path:
    """The AMI fixture corpus dir."""
    return build_ami(tmp_path)


@pytest.fixture
def ali_corpus(tmp_path: Path) -> Path:
    """The AliMeeting fixture corpus dir."""
    return build_alimeeting(tmp_path)
