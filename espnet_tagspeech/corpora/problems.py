"""What to do with a malformed annotation entry: stop (default) or skip it and report."""

import logging
from typing import List

from espnet_tagspeech.data.errors import DataFormatError

logger = logging.getLogger(__name__)


class Problems:
    """Collects malformed entries of a corpus.

    Args:
        strict: Raise the first problem (the default for data preparation:
            bad input stops before anything is written).  Otherwise each
            problem is logged as a warning, kept in :attr:`found`, and the
            entry skipped.
    """

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.found: List[DataFormatError] = []

    def report(self, error: DataFormatError) -> None:
        """Raise ``error`` (strict) or log and keep it."""
        if self.strict:
            raise error
        logger.warning("skipped: %s", error)
        self.found.append(error)

    def __len__(self) -> int:
        return len(self.found)
