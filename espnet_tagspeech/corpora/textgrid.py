"""Praat TextGrid reader (long "ooTextFile" format and the short one).

Both text formats carry the same sequence of values: the long format labels
each one (``xmin = 0``, ``intervals [1]:``), the short format writes the bare
values one per line.  The reader therefore tokenises either into the same
stream of numbers, quoted strings (``""`` inside a string is one quote) and
``<exists>`` / ``<absent>`` flags, skipping labels and ``[n]`` indices, and
then reads the stream in the order Praat writes it.  Every token keeps its
line number, so a bad value is reported as ``file:line: message``.

Files may be UTF-8 (with or without BOM) or UTF-16 with a BOM, as Praat writes
them when a label is not ASCII.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

from espnet_tagspeech.data.errors import DataFormatError

PathLike = Union[str, Path]

_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\??")
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Interval:
    """One interval of an interval tier (times in seconds)."""

    xmin: float
    xmax: float
    text: str
    line: int = 0
    """Line of the interval's ``xmin`` in the file (for messages)."""


@dataclass(frozen=True)
class Point:
    """One point of a text (point) tier."""

    time: float
    mark: str
    line: int = 0


@dataclass
class Tier:
    """A tier: ``"IntervalTier"`` (``intervals``) or ``"TextTier"`` (``points``)."""

    name: str
    kind: str
    xmin: float
    xmax: float
    intervals: List[Interval] = field(default_factory=list)
    points: List[Point] = field(default_factory=list)
    line: int = 0

    def nonempty_intervals(self) -> List[Interval]:
        """Intervals whose text is not blank."""
        return [iv for iv in self.intervals if iv.text.strip()]


@dataclass
class TextGrid:
    """A parsed TextGrid."""

    xmin: float
    xmax: float
    tiers: List[Tier]
    path: str = "<string>"

    def tier(self, name: str) -> Tier:
        """The first tier called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(f"{self.path}: no tier named {name!r}")


class _Token(NamedTuple):
    kind: str  # "num", "str", "flag"
    value: Union[float, str]
    line: int
    raw: str


def decode_textgrid_bytes(data: bytes, path: str = "<string>") -> str:
    """Decode a TextGrid file's bytes (UTF-16 with BOM, or UTF-8 with optional BOM)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DataFormatError(path, None, f"bad UTF-16 text ({e.reason})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"not UTF-8 or UTF-16 text ({e.reason})") from None


def _tokens(text: str, path: str) -> Iterator[_Token]:
    """Split TextGrid text into value tokens (see the module doc)."""
    i, line, n = 0, 1, len(text)
    after_equals = False
    label = ""
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if c == '"':
            start_line = line
            j = i + 1
            chunks = []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise DataFormatError(path, start_line, "string is never closed")
                chunks.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    chunks.append('"')
                    j = k + 2
                    continue
                break
            value = "".join(chunks)
            line += text.count("\n", i, k + 1)
            yield _Token("str", value, start_line, text[i : k + 1])
            i, after_equals = k + 1, False
            continue
        if c == "[":
            k = text.find("]", i)
            if k < 0 or "\n" in text[i:k]:
                raise DataFormatError(path, line, "'[' without ']' on the same line")
            i = k + 1
            continue
        if c in "=:":
            after_equals = c == "="
            i += 1
            continue
        if c == "!":  # a comment to the end of the line (short format)
            k = text.find("\n", i)
            i = n if k < 0 else k
            continue
        if c == "<":
            k = text.find(">", i)
            flag = text[i : k + 1] if k >= 0 else text[i:]
            if flag not in ("<exists>", "<absent>"):
                raise DataFormatError(path, line, f"unexpected {flag.split()[0]!r}")
            yield _Token("flag", flag, line, flag)
            i, after_equals = i + len(flag), False
            continue
        m = _NUMBER_RE.match(text, i)
        if m and (m.end() == n or not (text[m.end()].isalnum() or text[m.end()] in "._")):
            yield _Token("num", float(m.group(0)), line, m.group(0))
            i, after_equals = m.end(), False
            continue
        m = _WORD_RE.match(text, i)
        if m and not after_equals:
            eol = text.find("\n", m.end())
            if not text[m.end() : n if eol < 0 else eol].strip():
                # Labels are followed by "=", ":" or "[...]"; a bare word is a value
                # that lost its quotes.
                raise DataFormatError(path, line, f"unquoted text {m.group(0)!r}")
            label = m.group(0)
            i = m.end()
            continue
        bad = re.match(r"\S+", text[i:])
        what = bad.group(0) if bad else c
        if after_equals:
            raise DataFormatError(path, line, f"value of {label!r} is not a number or string: {what!r}")
        raise DataFormatError(path, line, f"unexpected {what!r}")


class _Reader:
    def __init__(self, tokens: List[_Token], path: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.path = path

    def _next(self, what: str) -> _Token:
        if self.pos >= len(self.tokens):
            last = self.tokens[-1].line if self.tokens else None
            raise DataFormatError(self.path, last, f"file ends where {what} was expected")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def number(self, what: str) -> Tuple[float, int]:
        tok = self._next(what)
        if tok.kind != "num":
            raise DataFormatError(self.path, tok.line, f"{what} must be a number, got {tok.raw!r}")
        if not math.isfinite(float(tok.value)):
            raise DataFormatError(self.path, tok.line, f"{what} is not finite: {tok.raw!r}")
        return float(tok.value), tok.line

    def count(self, what: str) -> Tuple[int, int]:
        value, line = self.number(what)
        if value < 0 or value != int(value):
            raise DataFormatError(self.path, line, f"{what} must be a whole number >= 0, got {value:g}")
        return int(value), line

    def string(self, what: str) -> Tuple[str, int]:
        tok = self._next(what)
        if tok.kind != "str":
            raise DataFormatError(self.path, tok.line, f"{what} must be a quoted string, got {tok.raw!r}")
        return str(tok.value), tok.line

    def flag(self) -> Optional[str]:
        if self.pos < len(self.tokens) and self.tokens[self.pos].kind == "flag":
            self.pos += 1
            return str(self.tokens[self.pos - 1].value)
        return None


def parse_textgrid(text: str, path: str = "<string>", strict: bool = True) -> TextGrid:
    """Parse the text of a TextGrid (long or short format).

    Args:
        text: The file's text.
        path: Name used in error messages.
        strict: Also check that intervals lie inside their tier, do not run
            backwards and do not overlap (Praat writes them contiguous).

    Raises:
        DataFormatError: on the first problem, with its line.
    """
    r = _Reader(list(_tokens(text, path)), path)
    file_type, line = r.string("file type")
    if file_type != "ooTextFile":
        raise DataFormatError(path, line, f"not a Praat text file (file type {file_type!r})")
    obj_class, line = r.string("object class")
    if obj_class != "TextGrid":
        raise DataFormatError(path, line, f"object class is {obj_class!r}, expected 'TextGrid'")
    xmin, _ = r.number("xmin")
    xmax, line = r.number("xmax")
    if xmax < xmin:
        raise DataFormatError(path, line, f"xmax {xmax:g} is before xmin {xmin:g}")
    tiers: List[Tier] = []
    if r.flag() == "<absent>":
        return TextGrid(xmin, xmax, tiers, path)
    size, _ = r.count("number of tiers")
    for _ in range(size):
        tiers.append(_read_tier(r, path, strict))
    if r.pos < len(r.tokens):
        tok = r.tokens[r.pos]
        raise DataFormatError(path, tok.line, f"unexpected {tok.raw!r} after the last tier")
    return TextGrid(xmin, xmax, tiers, path)


def _read_tier(r: _Reader, path: str, strict: bool) -> Tier:
    kind, line = r.string("tier class")
    if kind not in ("IntervalTier", "TextTier"):
        raise DataFormatError(path, line, f"unknown tier class {kind!r}")
    name, _ = r.string("tier name")
    xmin, _ = r.number("tier xmin")
    xmax, xline = r.number("tier xmax")
    if xmax < xmin:
        raise DataFormatError(path, xline, f"tier {name!r}: xmax {xmax:g} is before xmin {xmin:g}")
    tier = Tier(name, kind, xmin, xmax, line=line)
    n, _ = r.count(f"number of {'intervals' if kind == 'IntervalTier' else 'points'} of tier {name!r}")
    for _ in range(n):
        if kind == "IntervalTier":
            a, aline = r.number("interval xmin")
            b, bline = r.number("interval xmax")
            label, _ = r.string("interval text")
            iv = Interval(a, b, label, aline)
            if b < a:
                raise DataFormatError(path, bline, f"tier {name!r}: interval ends ({b:g}) before it starts ({a:g})")
            if strict:
                _check_interval(tier, iv, path)
            tier.intervals.append(iv)
        else:
            t, tline = r.number("point time")
            mark, _ = r.string("point mark")
            tier.points.append(Point(t, mark, tline))
    return tier


def _check_interval(tier: Tier, iv: Interval, path: str) -> None:
    if iv.xmin < tier.xmin - _TOLERANCE or iv.xmax > tier.xmax + _TOLERANCE:
        raise DataFormatError(
            path, iv.line,
            f"tier {tier.name!r}: interval {iv.xmin:g}-{iv.xmax:g} lies outside the tier "
            f"({tier.xmin:g}-{tier.xmax:g})",
        )
    if tier.intervals and iv.xmin < tier.intervals[-1].xmax - _TOLERANCE:
        raise DataFormatError(
            path, iv.line,
            f"tier {tier.name!r}: interval {iv.xmin:g}-{iv.xmax:g} overlaps the previous one "
            f"(ends {tier.intervals[-1].xmax:g})",
        )


def read_textgrid(path: PathLike, strict: bool = True) -> TextGrid:
    """Read a TextGrid file (long or short text format).

    Raises:
        DataFormatError: when the file is missing or malformed (with its line).
    """
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFormatError(p, None, "no such file") from None
    return parse_textgrid(decode_textgrid_bytes(data, p), p, strict)
