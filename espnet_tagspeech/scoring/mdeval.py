"""Independent DER route: NIST md-eval-22 (Debian ``sctk``) run the way dscore runs it.

This is a check on :mod:`.der`, not the main scorer. It prepares the input as
dscore does, with its own plain-Python code (automatic UEM over reference and
system extents, turns trimmed to the UEM, a speaker's overlapping turns
merged, RTTM and UEM written with three decimals), runs
``md-eval.pl -af -r ref.rttm -s sys.rttm -c COLLAR -u all.uem [-1]`` and reads
the per-file and ``ALL`` speaker times.

md-eval-22 prints those times with ``%10.2f``; for a check to 0.01 % DER on
short recordings that is too coarse, so the script is run from a private copy
in a temporary directory in which ``%10.2f secs`` is widened to ``%f secs``
(the installed file is not touched).

The script is found through ``$MD_EVAL_PL``, then ``md-eval.pl`` /
``md-eval-22.pl`` on ``PATH``, then the file list of the Debian package
``sctk`` (``dpkg -L sctk``).

Differences to keep in mind (documented for callers):

* md-eval itself, without ``-u``, scores only the reference's extent (false
  alarms outside it are lost; meeteval issue #97). This route always passes a
  UEM, like dscore.
* md-eval strips everything after the first dot of a UEM file id, so file
  ids containing dots lose their UEM; avoid them here.
* md-eval reports nothing for a file whose reference has no turns inside the
  UEM, and fails on a file whose scored speaker time is zero.
"""

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.der import DerStats
from espnet_tagspeech.scoring.regions import UemLike, default_uem, normalize_uem

_BLOCK = re.compile(
    r"\*\*\* Performance analysis for Speaker Diarization for (?P<cond>\S+) \*\*\*"
    r".*?SCORED SPEAKER TIME\s*=\s*(?P<scored>[-\d.]+)"
    r".*?MISSED SPEAKER TIME\s*=\s*(?P<missed>[-\d.]+)"
    r".*?FALARM SPEAKER TIME\s*=\s*(?P<fa>[-\d.]+)"
    r".*?SPEAKER ERROR TIME\s*=\s*(?P<conf>[-\d.]+)"
    r".*?OVERALL SPEAKER DIARIZATION ERROR\s*=\s*(?P<der>[-\d.]+)",
    re.DOTALL,
)


def find_md_eval() -> Optional[str]:
    """Path of ``md-eval.pl`` (version 22), or ``None`` if it is not installed."""
    env = os.environ.get("MD_EVAL_PL")
    if env and Path(env).is_file():
        return env
    for name in ("md-eval.pl", "md-eval-22.pl"):
        hit = shutil.which(name)
        if hit:
            return hit
    if shutil.which("dpkg"):
        try:
            out = subprocess.run(
                ["dpkg", "-L", "sctk"], capture_output=True, text=True, check=False
            ).stdout
        except OSError:
            return None
        for line in out.splitlines():
            if line.endswith("/md-eval.pl") and Path(line).is_file():
                return line
    return None


@functools.lru_cache(maxsize=4)
def _widened_copy(script: str) -> str:
    """Copy of md-eval with ``%10.2f secs`` printed as ``%f secs`` (cached per process)."""
    text = Path(script).read_text(encoding="latin-1")
    if "%10.2f secs" not in text:
        raise RuntimeError(f"{script}: not the expected md-eval-22 output format")
    tmp = Path(tempfile.mkdtemp(prefix="mdeval22_"))
    atexit.register(shutil.rmtree, tmp, True)
    out = tmp / "md-eval-22-wide.pl"
    out.write_text(text.replace("%10.2f secs", "%f secs"), encoding="latin-1")
    return str(out)


@dataclass
class MdEvalResult:
    """md-eval-22 speaker times.

    Attributes:
        overall: The ``ALL`` condition.
        files: Per file id.
        der_printed: md-eval's own ``OVERALL SPEAKER DIARIZATION ERROR`` for
            ``ALL`` (percent, two decimals).
        stdout: Full md-eval output.
    """

    overall: DerStats
    files: Dict[str, DerStats]
    der_printed: float
    stdout: str


def parse_md_eval_output(text: str) -> MdEvalResult:
    """Read the speaker-diarization blocks of md-eval-22 output.

    Raises:
        ValueError: when there is no ``ALL`` block.
    """
    files: Dict[str, DerStats] = {}
    overall = None
    printed = float("nan")
    for m in _BLOCK.finditer(text):
        st = DerStats(
            float(m.group("scored")),
            float(m.group("missed")),
            float(m.group("fa")),
            float(m.group("conf")),
        )
        cond = m.group("cond")
        if cond == "ALL":
            overall, printed = st, float(m.group("der"))
        elif cond.startswith("f="):
            files[cond[2:]] = st
    if overall is None:
        raise ValueError("md-eval output has no 'ALL' speaker diarization block")
    return MdEvalResult(overall, files, printed, text)


def _prepare(
    turns: Sequence[Turn], uem: Dict[str, List[Tuple[float, float]]]
) -> List[Tuple[str, str, float, float]]:
    """Trim to the UEM and merge a speaker's strictly overlapping turns (plain Python)."""
    pieces: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
    for t in turns:
        for on, off in uem.get(t.recording, []):
            s, e = max(t.start, on), min(t.end, off)
            if e > s:
                pieces.setdefault((t.recording, t.speaker), []).append((s, e))
    rows = []
    for (rec, spk), spans in sorted(pieces.items()):
        spans.sort()
        cur_s, cur_e = spans[0]
        for s, e in spans[1:]:
            if s < cur_e:
                cur_e = max(cur_e, e)
            else:
                rows.append((rec, spk, cur_s, cur_e))
                cur_s, cur_e = s, e
        rows.append((rec, spk, cur_s, cur_e))
    return rows


def _write_rttm(path: Path, rows: Sequence[Tuple[str, str, float, float]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for rec, spk, s, e in rows:
            f.write(
                f"SPEAKER {rec} 1 {round(s, 3):.3f} {round(e - s, 3):.3f} "
                f"<NA> <NA> {spk} <NA> <NA>\n"
            )


def run_md_eval(
    ref_turns: Sequence[Turn],
    sys_turns: Sequence[Turn],
    uem: Optional[UemLike] = None,
    collar: float = 0.0,
    ignore_overlaps: bool = False,
    script: Optional[str] = None,
) -> MdEvalResult:
    """Score with md-eval-22 after dscore's preparation.

    Args:
        ref_turns: Reference turns.
        sys_turns: System turns.
        uem: Scoring regions; ``None`` = dscore's automatic UEM.
        collar: Collar in seconds.
        ignore_overlaps: Pass ``-1`` (do not score overlapped reference speech).
        script: md-eval.pl to use (default: :func:`find_md_eval`).

    Raises:
        FileNotFoundError: md-eval.pl is not installed.
        RuntimeError: md-eval failed.
    """
    script = script or find_md_eval()
    if not script:
        raise FileNotFoundError("md-eval.pl not found (install Debian 'sctk' or set MD_EVAL_PL)")
    regions = normalize_uem(uem) if uem is not None else default_uem(ref_turns, sys_turns)
    for fid in regions:
        if "." in fid:
            raise ValueError(f"file id {fid!r} contains a dot, which md-eval strips from UEM ids")
    with tempfile.TemporaryDirectory(prefix="mdeval_run_") as tmp:
        tmp_p = Path(tmp)
        _write_rttm(tmp_p / "ref.rttm", _prepare(ref_turns, regions))
        _write_rttm(tmp_p / "sys.rttm", _prepare(sys_turns, regions))
        with open(tmp_p / "all.uem", "w", encoding="utf-8") as f:
            for fid in sorted(regions):
                for on, off in regions[fid]:
                    f.write(f"{fid} 1 {round(on, 3):.3f} {round(off, 3):.3f}\n")
        cmd = [
            "perl",
            _widened_copy(script),
            "-af",
            "-r", str(tmp_p / "ref.rttm"),
            "-s", str(tmp_p / "sys.rttm"),
            "-c", str(collar),
            "-u", str(tmp_p / "all.uem"),
        ]
        if ignore_overlaps:
            cmd.append("-1")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"md-eval failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return parse_md_eval_output(proc.stdout)
