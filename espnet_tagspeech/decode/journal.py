"""A decoding job's journal: results appended as they come, so a killed job resumes.

``<output_dir>/decoded.jsonl`` starts with a header line holding a fingerprint
of what makes the outputs (model, decoding settings, inputs' kind); then one
:class:`~espnet_tagspeech.decode.speech2tags.TagResult` per line, flushed
after every batch.  A re-run with the same fingerprint decodes only the keys
the journal lacks; another fingerprint starts the journal afresh.  A line cut
short by the kill is dropped (its key is decoded again).
"""

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

logger = logging.getLogger(__name__)

NAME = "decoded.jsonl"


def fingerprint(*parts: object) -> str:
    """A short hash of ``parts`` (their ``repr``); files are named by path, size and mtime."""
    def norm(p: object) -> object:
        try:
            if isinstance(p, (str, Path)) and Path(p).is_file():
                st = Path(p).stat()
                return (str(p), st.st_size, st.st_mtime_ns)
        except OSError:  # not a path (a name too long for one)
            pass
        return p

    return hashlib.sha1(repr([norm(p) for p in parts]).encode()).hexdigest()[:16]


class DecodeJournal:
    """Results of one decoding job, kept on disk as they are made.

    Args:
        output_dir: The job's output dir (the journal lives in it).
        fingerprint: What the results depend on (:func:`fingerprint`).
    """

    def __init__(self, output_dir: Union[str, Path], fingerprint: str) -> None:
        self.path = Path(output_dir) / NAME
        self.fingerprint = fingerprint
        self.results: Dict[str, "TagResult"] = {}  # noqa: F821 (decode.speech2tags, lazily)
        self._load()

    def _load(self) -> None:
        from espnet_tagspeech.decode.speech2tags import TagResult

        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as f:
            content = f.read()
        if content and not content.endswith("\n"):  # a line cut short by a kill: drop it
            content = content[: content.rfind("\n") + 1]
            logger.warning("%s: last line cut short (killed run?); its key is decoded again", self.path)
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(content)
        lines = content.split("\n")
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = {}
        if header.get("fingerprint") != self.fingerprint:
            logger.warning("%s: made with another model or settings; decoding afresh", self.path)
            return
        for lineno, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            try:
                res = TagResult.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                logger.warning("%s:%d: unreadable (cut short by a kill?); that key is decoded again",
                               self.path, lineno)
                continue
            self.results[res.key] = res
        if self.results:
            logger.info("%s: %d results from an earlier run", self.path, len(self.results))

    def missing(self, keys: Iterable[str]) -> list:
        """The keys without a result, in the given order."""
        return [k for k in keys if k not in self.results]

    def add(self, results: Iterable) -> None:
        """Append results and flush them to disk (a new journal gets its header first)."""
        results = list(results)
        fresh = not self.path.is_file() or not self.results
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w" if fresh else "a", encoding="utf-8") as f:
            if fresh:
                f.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
            for res in results:
                f.write(json.dumps(res.to_dict()) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for res in results:
            self.results[res.key] = res

    def get(self, key: str) -> Optional["TagResult"]:  # noqa: F821
        """The result of ``key``, if decoded."""
        return self.results.get(key)
