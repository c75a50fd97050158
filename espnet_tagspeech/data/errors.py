"""Errors raised on bad input files, always naming the file and the line."""

from typing import Optional


class DataFormatError(ValueError):
    """A malformed line in an input file.

    Args:
        path: The file (or a description such as ``"<string>"``).
        line: 1-based line number, or ``None`` when the problem is not one line.
        message: What is wrong.
    """

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
