"""Loading scoring inputs: RTTM file lists, UEM, reports as tables and JSON."""

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm, read_uem
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.diarization import OVERALL, DiarizationReport
from espnet_tagspeech.scoring.table import format_table

PathLike = Union[str, Path]


def read_file_list(path: PathLike) -> List[str]:
    """Paths listed one per line (blank lines and ``#`` comments skipped).

    Raises:
        DataFormatError: when the list or a listed file does not exist
            (naming the list file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(str(p), None, "no such file")
    out = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not Path(s).is_file():
            raise DataFormatError(str(p), lineno, f"listed file does not exist: {s}")
        out.append(s)
    return out


def load_rttms(paths: Sequence[PathLike]) -> List[Turn]:
    """Read and concatenate RTTM files (every file is checked before returning)."""
    turns: List[Turn] = []
    for p in paths:
        turns.extend(read_rttm(p))
    return turns


def load_uem(path: Optional[PathLike]) -> Optional[Dict[str, tuple]]:
    """Read a UEM file, or return ``None`` for no path."""
    return None if path is None else read_uem(path)


HEADERS = ("File", "DER", "JER", "MISS", "FA", "CONF")


def report_rows(report: DiarizationReport) -> List[List[object]]:
    """Table rows (percent) of a report: one per file, then ``*** OVERALL ***``."""
    rows: List[List[object]] = []
    for f in report.files:
        d = f.der
        rows.append([f.file_id, d.der, f.jer.jer, d.miss_rate, d.fa_rate, d.conf_rate])
    o = report.overall
    rows.append([OVERALL, o.der, report.overall_jer, o.miss_rate, o.fa_rate, o.conf_rate])
    return rows


def report_table(report: DiarizationReport, fmt: str = "simple", digits: int = 2) -> str:
    """The per-file table with its overall row."""
    return format_table(HEADERS, report_rows(report), fmt, digits)


def write_json(path: PathLike, data: object) -> None:
    """Write JSON atomically (indent 1, UTF-8)."""
    with atomic_write(path) as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
