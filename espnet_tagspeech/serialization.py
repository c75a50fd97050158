"""The TagSpeech target format: turns of one cut <-> the serialized string.

The format (REFERENCE §1) has a text block with one line per turn, sorted by
start time and carrying segment-relative times with two decimals, and a speaker
block with one entry per speaker (numbered by first appearance), its gender and
its merged time ranges::

    <text>
    0.00-1.21>UH NO THAT'S OKAY SORRY
    0.96-2.13>OKAY UM
    </text>
    <speaker>
    <spk id="1" g="f" t="0.00-1.21"/>
    <spk id="2" g="f" t="0.96-2.13"/>
    </speaker>

Text lines carry no speaker id: the parser attributes each line to the speaker
whose ranges it explains, solving the assignment so that every speaker's ranges
are exactly the union of its lines (a small constraint search; ties between
lines with identical times go to speakers in id order, as the serializer writes
them).  :func:`parse` never raises on model output unless ``strict=True``; it
returns what it can recover and a list of warnings.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_tagspeech.data.turn import GENDERS, Turn, Word, merge_intervals

TEXT_OPEN, TEXT_CLOSE = "<text>", "</text>"
SPK_OPEN, SPK_CLOSE = "<speaker>", "</speaker>"
_FORBIDDEN = set("<>\\\n\r")
_EPS = 0.005  # half of the 0.01 s resolution of the format

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_TEXT_LINE = re.compile(r"^\s*" + _NUM + r"\s*-\s*" + _NUM + r"\s*>(.*)$")
_SPK_ENTRY = re.compile(r"<spk\b([^<>]*?)/?\s*>")
_ATTR = re.compile(r"([A-Za-z_]+)\s*=\s*\"([^\"]*)\"")
_RANGE = re.compile(r"^\s*" + _NUM + r"\s*-\s*" + _NUM + r"\s*$")

Span = Tuple[float, float]


class TargetFormatError(ValueError):
    """A reference target that does not follow the format (strict parsing).

    Attributes:
        line: 1-based line number in the target string.
        position: 0-based character offset of that line's start.
    """

    def __init__(self, message: str, line: int, position: int) -> None:
        self.line = line
        self.position = position
        super().__init__(f"target line {line} (char {position}): {message}")


@dataclass
class ParseResult:
    """What :func:`parse` recovered from a target string.

    Attributes:
        turns: One turn per text line, speaker ids ``"1"``, ``"2"``... (or
            ``"unk"`` when no speaker explains the line), times in recording time.
        speaker_turns: One turn per range of the speaker block, without words
            (the diarization output).
        warnings: Human-readable problems found while parsing.
    """

    turns: List[Turn] = field(default_factory=list)
    speaker_turns: List[Turn] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def diarization(self, source: str = "block") -> List[Turn]:
        """Speaker turns without words: the speaker block's ranges (``"block"``, the
        paper's diarization output) or the text lines' ranges with the speakers the
        block gives them (``"lines"``: line times and speaker ids always agree)."""
        if source == "block":
            return list(self.speaker_turns)
        if source == "lines":
            return [replace(t, words=()) for t in self.turns]
        raise ValueError(f"diarization source must be 'block' or 'lines', got {source!r}")

    def speaker_text(self) -> Dict[str, str]:
        """Per speaker, its words in time order joined by spaces."""
        out: Dict[str, List[str]] = {}
        for t in sorted(self.turns, key=lambda t: (t.start, t.end)):
            if t.words:
                out.setdefault(t.speaker, []).append(t.text)
        return {k: " ".join(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- writing


def _r2(x: float) -> float:
    return round(x + 0.0, 2) + 0.0


def serialize(turns: Sequence[Turn], offset: float = 0.0) -> str:
    """Serialize the turns of one cut into a TagSpeech target string.

    Args:
        turns: The cut's turns (any order); times in the same clock as ``offset``.
        offset: Subtracted from every time (the cut's start in recording time).

    Returns:
        The target string (no trailing newline).

    Raises:
        ValueError: a time before ``offset`` or a word containing ``<``, ``>``,
            a backslash or a line break.
    """
    rows = []
    for t in turns:
        s, e = _r2(t.start - offset), _r2(t.end - offset)
        if s < 0:
            raise ValueError(f"turn of {t.speaker} starts {s:.2f} s before the cut")
        for w in t.words:
            if _FORBIDDEN & set(w.text):
                raise ValueError(f"word {w.text!r} contains a reserved character")
        rows.append((s, e, t))
    rows.sort(key=lambda r: (r[0], r[1], r[2].speaker))
    number: Dict[str, int] = {}
    for _, _, t in rows:
        number.setdefault(t.speaker, len(number) + 1)
    rows.sort(key=lambda r: (r[0], r[1], number[r[2].speaker]))

    lines = [TEXT_OPEN]
    lines += [f"{s:.2f}-{e:.2f}>{t.text}" for s, e, t in rows]
    lines += [TEXT_CLOSE, SPK_OPEN]
    for spk, n in sorted(number.items(), key=lambda kv: kv[1]):
        mine = [r for r in rows if r[2].speaker == spk]
        genders = [r[2].gender for r in mine if r[2].gender != "u"]
        g = genders[0] if genders else "u"
        spans = merge_intervals((s, e) for s, e, _ in mine)
        ranges = ",".join(f"{s:.2f}-{e:.2f}" for s, e in spans)
        lines.append(f'<spk id="{n}" g="{g}" t="{ranges}"/>')
    lines.append(SPK_CLOSE)
    return "\n".join(lines)


def text_block(turns: Sequence[Turn], offset: float = 0.0) -> str:
    """The ``<text>`` block alone of the turns (as :func:`serialize` writes it).

    Used to hand a transcript made elsewhere (the CTC head's lines) to the LLM,
    which then writes the speaker block.
    """
    rows = sorted((_r2(t.start - offset), _r2(t.end - offset), t.text) for t in turns)
    for s, _, text in rows:
        if s < 0:
            raise ValueError(f"line {text!r} starts {s:.2f} s before the cut")
        if _FORBIDDEN & set(text):
            raise ValueError(f"line {text!r} contains a reserved character")
    return "\n".join([TEXT_OPEN] + [f"{s:.2f}-{e:.2f}>{text}" for s, e, text in rows] + [TEXT_CLOSE])


def answer_text_block(answer: str) -> Optional[str]:
    """An answer's ``<text>`` block as written, through the line break after ``</text>``
    (what a later pass keeps while the LLM writes the speaker block again), or ``None``
    when the answer does not open with a closed text block."""
    if not answer.startswith(TEXT_OPEN) or TEXT_CLOSE not in answer:
        return None
    return answer[: answer.index(TEXT_CLOSE) + len(TEXT_CLOSE)] + "\n"


def target_to_line(target: str) -> str:
    """Escape a target for one line of a Kaldi ``text`` file (newline -> ``\\n``)."""
    return target.replace("\r", "").replace("\n", "\\n")


def line_to_target(line: str) -> str:
    """Undo :func:`target_to_line`."""
    return line.replace("\\n", "\n")


# ----------------------------------------------------------------------------- reading


class _Problems:
    """Collects warnings, or raises at the first one in strict mode."""

    def __init__(self, strict: bool, starts: List[int]) -> None:
        self.strict = strict
        self.starts = starts
        self.items: List[str] = []

    def __call__(self, lineno: int, message: str) -> None:
        if self.strict:
            pos = self.starts[lineno - 1] if 0 < lineno <= len(self.starts) else 0
            raise TargetFormatError(message, lineno, pos)
        self.items.append(f"line {lineno}: {message}")


def _span(a: str, b: str) -> Span:
    return _r2(float(a)), _r2(float(b))


def _inside(span: Span, ranges: Sequence[Span]) -> bool:
    return any(rs - _EPS <= span[0] and span[1] <= re_ + _EPS for rs, re_ in ranges)


def _clip(spans: Sequence[Span], limit: float) -> List[Span]:
    return [(s, min(e, limit)) for s, e in spans if s < limit - _EPS]


def _same(a: Sequence[Span], b: Sequence[Span]) -> bool:
    return len(a) == len(b) and all(
        abs(x[0] - y[0]) <= _EPS and abs(x[1] - y[1]) <= _EPS for x, y in zip(a, b)
    )


def _assign(
    spans: List[Span], ranges: Dict[str, List[Span]], limit: int = 20000
) -> Optional[List[str]]:
    """Assign each line span to a speaker so that coverage equals the ranges.

    Returns ``None`` when no exact assignment is found within ``limit`` nodes.
    """
    order = list(ranges)
    cands = [[k for k in order if _inside(sp, ranges[k])] for sp in spans]
    chosen: List[str] = []
    budget = [limit]

    def covered(k: str, upto: int) -> List[Span]:
        return merge_intervals(spans[j] for j in range(upto) if chosen[j] == k)

    def consistent(i: int) -> bool:
        # Coverage that ends before line i starts can no longer change.
        lim = spans[i][0] if i < len(spans) else float("inf")
        return all(
            _same(_clip(covered(k, i), lim), _clip(ranges[k], lim)) for k in order
        )

    def dfs(i: int) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if not consistent(i):
            return False
        if i == len(spans):
            return True
        tie_min = None
        if i > 0 and spans[i - 1] == spans[i]:
            tie_min = order.index(chosen[i - 1])
        for k in cands[i]:
            if tie_min is not None and order.index(k) < tie_min:
                continue
            chosen.append(k)
            if dfs(i + 1):
                return True
            chosen.pop()
        return False

    return list(chosen) if dfs(0) else None


def _greedy(spans: List[Span], ranges: Dict[str, List[Span]]) -> List[str]:
    """Best-effort attribution: the tightest containing range, else most overlap."""
    out = []
    for s, e in spans:
        best, key = "unk", None
        for k, rs in ranges.items():
            for a, b in rs:
                ov = min(e, b) - max(s, a)
                inside = a - _EPS <= s and e <= b + _EPS
                cand = (0 if inside else 1, (b - a) if inside else -ov)
                if (inside or ov > 0) and (key is None or cand < key):
                    best, key = k, cand
        out.append(best)
    return out


def parse(
    text: str, recording: str = "cut", offset: float = 0.0, strict: bool = False
) -> ParseResult:
    """Parse a TagSpeech target (reference or model output) into turns.

    Args:
        text: The target string.
        recording: Recording id given to the returned turns.
        offset: Added to every time (the cut's start in recording time).
        strict: Raise :class:`TargetFormatError` at the first problem instead of
            recovering (use for reference targets).

    Returns:
        A :class:`ParseResult`. In lenient mode this never raises.
    """
    raw_lines = text.split("\n")
    starts, pos = [], 0
    for ln in raw_lines:
        starts.append(pos)
        pos += len(ln) + 1
    warn = _Problems(strict, starts)
    section = None  # None, "text", "text_done", "speaker", "speaker_done"
    seen_text_open = seen_spk_open = False
    lines: List[Tuple[int, Span, str]] = []
    spk_entries: List[Tuple[int, str, str, List[Span]]] = []

    for lineno, line in enumerate(raw_lines, 1):
        stripped = line.strip()
        if not stripped:
            if strict:
                warn(lineno, "empty line")
            continue
        if stripped == TEXT_OPEN:
            if seen_text_open:
                warn(lineno, "second <text> block")
            if section == "speaker":
                warn(lineno, "<text> inside the speaker block")
            seen_text_open, section = True, "text"
            continue
        if stripped == TEXT_CLOSE:
            if section != "text":
                warn(lineno, "</text> without an open <text>")
            section = "text_done"
            continue
        if stripped == SPK_OPEN:
            if seen_spk_open:
                warn(lineno, "second <speaker> block")
            if section == "text":
                warn(lineno, "<speaker> before </text>")
            if not seen_text_open:
                warn(lineno, "<speaker> before any <text> block")
            seen_spk_open, section = True, "speaker"
            continue
        if stripped == SPK_CLOSE:
            if section != "speaker":
                warn(lineno, "</speaker> without an open <speaker>")
            section = "speaker_done"
            continue
        m = _TEXT_LINE.match(line)
        if m and "<spk" not in line:
            if section != "text":
                warn(lineno, "text line outside the <text> block")
            s, e = _span(m.group(1), m.group(2))
            words = m.group(3).split()
            bad = [w for w in words if _FORBIDDEN & set(w)]
            if bad:
                warn(lineno, f"reserved characters in words {bad[:3]}")
                words = [w for w in words if w not in bad]
            if e < s:
                warn(lineno, f"reversed time range {s:.2f}-{e:.2f}")
                continue
            if lines and s < lines[-1][1][0] - _EPS:
                warn(lineno, "text lines not sorted by start time")
            lines.append((lineno, (s, e), " ".join(words)))
            continue
        entries = list(_SPK_ENTRY.finditer(line))
        if entries:
            if section != "speaker":
                warn(lineno, "speaker entry outside the <speaker> block")
            if strict and (len(entries) != 1 or _SPK_ENTRY.sub("", line).strip()):
                warn(lineno, "a speaker line must hold exactly one <spk/> entry")
            for ent in entries:
                parsed = _parse_spk(ent.group(1), lineno, warn)
                if parsed is not None:
                    spk_entries.append((lineno,) + parsed)
            continue
        warn(lineno, f"unrecognised line {stripped[:40]!r}")

    if not (seen_text_open and seen_spk_open and section == "speaker_done"):
        warn(len(raw_lines), "incomplete target: expected a <text> block then a <speaker> block")

    ranges: Dict[str, List[Span]] = {}
    genders: Dict[str, str] = {}
    for lineno, sid, g, spans in spk_entries:
        if strict and sid != str(len(ranges) + 1):
            warn(lineno, f"speaker id {sid!r} out of order (expected {len(ranges) + 1})")
        if sid in ranges:
            warn(lineno, f"speaker id {sid!r} given twice; ranges merged")
        ranges[sid] = merge_intervals(ranges.get(sid, []) + spans)
        genders.setdefault(sid, g)

    if strict:
        firsts = [min((s for s, _ in r), default=0.0) for r in ranges.values()]
        if firsts != sorted(firsts):
            warn(spk_entries[0][0] if spk_entries else 1, "speakers not numbered by first appearance")

    spans = [sp for _, sp, _ in lines]
    labels = _assign(spans, ranges) if ranges else None
    if labels is None:
        if ranges and lines:
            warn(lines[0][0], "text lines do not match the speaker ranges exactly")
        labels = _greedy(spans, ranges)
        for (lineno, _, _), lab in zip(lines, labels):
            if lab == "unk":
                warn(lineno, "no speaker range covers this line")

    result = ParseResult(warnings=warn.items)
    for (lineno, (s, e), words), lab in zip(lines, labels):
        result.turns.append(
            Turn(
                recording,
                lab,
                s + offset,
                e + offset,
                tuple(Word(w) for w in words.split()),
                genders.get(lab, "u"),
            )
        )
    for sid, spans_k in ranges.items():
        for s, e in spans_k:
            result.speaker_turns.append(
                Turn(recording, sid, s + offset, e + offset, (), genders.get(sid, "u"))
            )
    result.speaker_turns.sort(key=lambda t: (t.start, t.end, t.speaker))
    return result


def _parse_spk(
    body: str, lineno: int, warn: _Problems
) -> Optional[Tuple[str, str, List[Span]]]:
    attrs = dict(_ATTR.findall(body))
    sid = attrs.get("id", "").strip()
    if not sid or any(c.isspace() for c in sid):
        warn(lineno, "speaker entry without a usable id")
        return None
    g = attrs.get("g", "u")
    if g not in GENDERS:
        warn(lineno, f"unknown gender {g!r}")
        g = "u"
    spans: List[Span] = []
    for part in attrs.get("t", "").split(","):
        if not part.strip():
            continue
        m = _RANGE.match(part)
        if not m:
            warn(lineno, f"bad time range {part.strip()[:20]!r} of speaker {sid}")
            continue
        s, e = _span(m.group(1), m.group(2))
        if e < s:
            warn(lineno, f"reversed time range {s:.2f}-{e:.2f} of speaker {sid}")
            continue
        spans.append((s, e))
    if not spans:
        warn(lineno, f"speaker {sid} has no time ranges")
        return None
    return sid, g, spans
