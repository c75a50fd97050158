"""ESPnet-style ``RESULTS.md`` from decode directories.

A *reference directory* is a Kaldi data dir holding ``rttm`` (optionally
``uem``), ``ref.seglst.json`` (turn-level reference with text) and, for
simulated data, ``words.ctm`` (reference word times). A *decode directory*
holds the decoder's ``rttm``, ``hyp.seglst.json`` and, when written by
``merge_decodes``, ``parse_warnings`` (per cut: number of parser warnings of
the model's answer). For each pair, :func:`evaluate_dataset` computes

* DER at collar 0 and 0.25 s, JER, and MISS / FA / CONF (collar 0), all with
  dscore semantics (:mod:`.diarization`);
* cpWER, tcpWER and the speaker-agnostic WER (meeteval, :mod:`.wer`) and the
  speaker-count accuracy;
* the speaker-agnostic WER of overlapped reference words (:mod:`.overlap`;
  needs reference word times, else it is NaN, shown as ``-``);
* how many cuts had answers with parser warnings.

One table may hold several decodings (*systems*) of one test set: every row
is labelled ``dataset | system``. :func:`format_results_md` writes the table
under an environment header (date, Python / torch / espnet / transformers
versions, git commit, model config), like ESPnet's ``RESULTS.md``.
"""

import datetime
import logging
import math
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm, read_seglst, read_uem
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.diarization import score_diarization
from espnet_tagspeech.scoring.overlap import (
    NON_OVERLAPPED,
    OVERLAPPED,
    ctm_word_turns,
    rate_or_nan,
    score_overlap_wer,
    word_level_turns,
)
from espnet_tagspeech.scoring.table import format_table
from espnet_tagspeech.scoring.wer import score_words

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

RESULT_HEADERS = (
    "dataset", "system", "DER c=0", "DER c=0.25", "JER", "MISS", "FA", "CONF",
    "cpWER", "tcpWER", "WER", "ovl WER", "spk-count acc",
)

# summary keys of the numeric columns, in RESULT_HEADERS order after dataset and system
_ROW_KEYS = (
    "der_c0", "der_c025", "jer", "miss", "fa", "conf",
    "cpwer", "tcpwer", "wer", "ovl_wer", "spk_count_acc",
)

PARSE_WARNINGS = "parse_warnings"


@dataclass(frozen=True)
class AnswerWarnings:
    """How many decoded cuts had an answer the parser warned about.

    Attributes:
        path: The ``parse_warnings`` file counted.
        cuts: Number of cuts listed in it.
        cuts_with_warnings: Cuts with a warning count above 0.
        warnings: Sum of the warning counts.
    """

    path: str
    cuts: int
    cuts_with_warnings: int
    warnings: int


def read_answer_warnings(decode_dir: PathLike) -> Optional[AnswerWarnings]:
    """Count the cuts with parser warnings from ``<decode_dir>/parse_warnings``.

    The file has one ``<cut key> <count>`` line per decoded cut.

    Returns:
        The counts, or ``None`` when the file does not exist (unknown, which
        is not the same as no warnings).

    Raises:
        DataFormatError: on a malformed line (file and line named).
    """
    from espnet_tagspeech.data.kaldi import TableSpec, scan_table

    path = Path(decode_dir) / PARSE_WARNINGS
    if not path.is_file():
        return None
    entries = scan_table(path, TableSpec(PARSE_WARNINGS, 2, 2, "int"))
    counts = [int(e.value) for e in entries]
    return AnswerWarnings(str(path), len(counts), sum(1 for c in counts if c > 0), sum(counts))


def default_system_name(decode_dir: PathLike, dataset: str) -> str:
    """A system label from the decode directory's path.

    The directory's own name, unless that is just the dataset name (ESPnet's
    ``exp/<model>/decode_<inference tag>/<test set>`` layout): then its
    parent's name.
    """
    p = Path(decode_dir)
    name = p.name or p.resolve().name
    if name == dataset:
        parent = p.parent.name or p.resolve().parent.name
        if parent:
            return parent
    return name


def _nan_to_none(value: float) -> Optional[float]:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass
class DatasetResult:
    """Summary numbers of one decoding of a dataset (percent) and its per-recording details.

    Attributes:
        dataset: Test set name (first table column).
        summary: Overall numbers; keys as in :func:`evaluate_dataset`.
        per_recording: ``{recording: {metric: value}}``.
        system: System label (second table column).
        answer_warnings: Parser warning counts, ``None`` when unknown.
        decode_dir: The decode directory scored (named in messages).
    """

    dataset: str
    summary: Dict[str, float]
    per_recording: Dict[str, Dict[str, object]]
    system: str = ""
    answer_warnings: Optional[AnswerWarnings] = None
    decode_dir: str = ""

    def row(self) -> List[object]:
        """The table row in :data:`RESULT_HEADERS` order (NaN becomes ``None``, shown ``-``)."""
        # a "|" inside a label would split the markdown cell
        labels = [x.replace("|", "/") for x in (self.dataset, self.system)]
        return labels + [_nan_to_none(self.summary[k]) for k in _ROW_KEYS]

    def decoding_line(self) -> str:
        """One markdown list item naming the decode dir and the test set's segmentation
        (the ``segmentation`` file stage 8 writes into the decode dir)."""
        seg_file = Path(self.decode_dir) / "segmentation" if self.decode_dir else None
        seg = seg_file.read_text(encoding="utf-8").strip() if seg_file and seg_file.is_file() else "unknown"
        return f"- {self.dataset} / {self.system}: segmentation {seg}; `{self.decode_dir}`"

    def warnings_line(self) -> str:
        """One markdown list item saying how many cuts had answer warnings."""
        label = f"{self.dataset} / {self.system}"
        w = self.answer_warnings
        if w is None:
            where = Path(self.decode_dir) / PARSE_WARNINGS if self.decode_dir else PARSE_WARNINGS
            return f"- {label}: answer warnings unknown (no {where})"
        return (
            f"- {label}: {w.cuts_with_warnings} of {w.cuts} cuts had answer warnings "
            f"({w.warnings} warnings; see {w.path})"
        )

    def as_json(self) -> Dict[str, object]:
        """Plain data for ``per_recording.json`` (NaN as ``null``)."""
        w = self.answer_warnings
        return {
            "summary": {k: _nan_to_none(v) for k, v in self.summary.items()},
            "answer_warnings": None if w is None else {
                "path": w.path, "cuts": w.cuts, "cuts_with_warnings": w.cuts_with_warnings,
                "warnings": w.warnings,
            },
            "recordings": {
                rec: {k: _nan_to_none(v) for k, v in m.items()}  # type: ignore[arg-type]
                for rec, m in self.per_recording.items()
            },
        }


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataFormatError(str(path), None, "no such file")
    return path


def reference_word_times(ref_dir: PathLike, ref_turns: Sequence[Turn]) -> Optional[List[Turn]]:
    """Timed reference words: ``<ref_dir>/words.ctm``, else a word-level ``ref.seglst.json``.

    Args:
        ref_dir: The reference data dir.
        ref_turns: Its ``ref.seglst.json`` as read (used when there is no CTM,
            and to check the CTM has the same number of words per recording).

    Returns:
        One-word turns with times, or ``None`` when no word times exist.

    Raises:
        DataFormatError: a malformed ``words.ctm`` line.
    """
    ctm = Path(ref_dir) / "words.ctm"
    if ctm.is_file():
        words = ctm_word_turns(ctm)
        n_ctm: Dict[str, int] = {}
        n_seg: Dict[str, int] = {}
        for t in words:
            n_ctm[t.recording] = n_ctm.get(t.recording, 0) + 1
        for t in ref_turns:
            n_seg[t.recording] = n_seg.get(t.recording, 0) + len(t.words)
        differ = sorted(r for r in set(n_ctm) | set(n_seg) if n_ctm.get(r, 0) != n_seg.get(r, 0))
        if differ:
            logger.warning("%s and ref.seglst.json differ in word count for %d recording(s): %s",
                           ctm, len(differ), " ".join(differ[:5]))
        return words
    return word_level_turns(ref_turns)


def evaluate_dataset(
    decode_dir: PathLike,
    ref_dir: PathLike,
    dataset: Optional[str] = None,
    tcp_collar: float = 5.0,
    system: Optional[str] = None,
) -> DatasetResult:
    """Score one decode directory against its reference data directory.

    Args:
        decode_dir: Holds ``rttm``, ``hyp.seglst.json`` and optionally
            ``parse_warnings``.
        ref_dir: Holds ``rttm``, optional ``uem``, ``ref.seglst.json`` and
            optional ``words.ctm``.
        dataset: Name in the table (default: the reference dir's name).
        tcp_collar: tcpWER collar in seconds.
        system: System label in the table (default: :func:`default_system_name`).

    Returns:
        The :class:`DatasetResult`. Its summary holds ``der_c0``,
        ``der_c025``, ``jer``, ``miss``, ``fa``, ``conf``, ``cpwer``,
        ``tcpwer``, ``wer``, ``ovl_wer``, ``nonovl_wer`` (percent; the last two
        NaN without word times or without words of the class),
        ``ovl_ref_words``, ``nonovl_ref_words``, ``spk_count_acc`` and
        ``spk_count_mae``.

    Raises:
        DataFormatError: a file is missing or malformed (every input is read
            before any scoring starts).
    """
    d, r = Path(decode_dir), Path(ref_dir)
    ref_rttm = read_rttm(_need(r / "rttm"))
    uem = read_uem(r / "uem") if (r / "uem").is_file() else None
    ref_words = read_seglst(_need(r / "ref.seglst.json"))
    hyp_rttm = read_rttm(_need(d / "rttm"))
    hyp_words = read_seglst(_need(d / "hyp.seglst.json"))
    if not ref_rttm:
        raise DataFormatError(str(r / "rttm"), None, "no reference turns")
    if not ref_words:
        raise DataFormatError(str(r / "ref.seglst.json"), None, "no reference segments")
    timed = reference_word_times(r, ref_words)
    warnings = read_answer_warnings(d)
    dataset = dataset or r.name

    dia0 = score_diarization(ref_rttm, hyp_rttm, uem=uem, collar=0.0)
    dia25 = score_diarization(ref_rttm, hyp_rttm, uem=uem, collar=0.25)
    # ORC-WER is not in the table and its matching is exponential in segments per recording.
    words = score_words(ref_words, hyp_words, collar=tcp_collar, metrics=("cpwer", "tcpwer", "wer"))
    if timed is None:
        logger.warning("%s: no reference word times (no words.ctm, ref.seglst.json is turn level): "
                       "ovl WER not computed", r)
        ovl = None
    else:
        ovl = score_overlap_wer(timed, ref_rttm, hyp_words, sorted(words.per_recording))
    summary = {
        "der_c0": dia0.overall.der,
        "der_c025": dia25.overall.der,
        "jer": dia0.overall_jer,
        "miss": dia0.overall.miss_rate,
        "fa": dia0.overall.fa_rate,
        "conf": dia0.overall.conf_rate,
        "cpwer": words.overall["cpwer"].rate,
        "tcpwer": words.overall["tcpwer"].rate,
        "wer": words.overall["wer"].rate,
        "ovl_wer": math.nan if ovl is None else ovl.ovl_wer,
        "nonovl_wer": math.nan if ovl is None else ovl.nonovl_wer,
        "ovl_ref_words": math.nan if ovl is None else ovl.overall[OVERLAPPED].length,
        "nonovl_ref_words": math.nan if ovl is None else ovl.overall[NON_OVERLAPPED].length,
        "spk_count_acc": words.speaker_count_accuracy,
        "spk_count_mae": words.speaker_count_mae,
    }
    per: Dict[str, Dict[str, object]] = {}
    c25 = dia25.by_file()
    for f in dia0.files:
        per.setdefault(f.file_id, {}).update(
            der_c0=f.der.der, der_c025=c25[f.file_id].der.der, jer=f.jer.jer,
            miss=f.der.miss_rate, fa=f.der.fa_rate, conf=f.der.conf_rate,
            scored_speaker_time=f.der.scored,
        )
    for rec, ms in words.per_recording.items():
        n_ref, n_hyp = words.speaker_counts[rec]
        per.setdefault(rec, {}).update(
            cpwer=ms["cpwer"].rate, tcpwer=ms["tcpwer"].rate,
            wer=ms["wer"].rate, ref_words=ms["cpwer"].length,
            n_ref_speakers=n_ref, n_hyp_speakers=n_hyp,
        )
    if ovl is not None:
        for rec, cs in ovl.per_recording.items():
            per.setdefault(rec, {}).update(
                ovl_wer=rate_or_nan(cs[OVERLAPPED]), nonovl_wer=rate_or_nan(cs[NON_OVERLAPPED]),
                ovl_ref_words=cs[OVERLAPPED].length, nonovl_ref_words=cs[NON_OVERLAPPED].length,
            )
    return DatasetResult(
        dataset, summary, dict(sorted(per.items())),
        system or default_system_name(d, dataset), warnings, str(d),
    )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(args: Sequence[str], cwd: Optional[PathLike]) -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def collect_environment(
    config: Optional[str] = None, repo_dir: Optional[PathLike] = None
) -> Dict[str, str]:
    """Date, versions (without importing the packages), git commit, model config."""
    commit = _git(["rev-parse", "HEAD"], repo_dir)
    env = {
        "date": datetime.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Z %Y"),
        "python version": f"{platform.python_version()} ({platform.machine()})",
        "espnet version": _version("espnet"),
        "torch version": _version("torch"),
        "transformers version": _version("transformers"),
        "meeteval version": _version("meeteval"),
        "Git hash": commit or "unavailable",
    }
    if commit:
        env["Commit date"] = _git(["log", "-1", "--format=%cd"], repo_dir) or "unavailable"
    env["model config"] = config or "not given"
    return env


def results_table(results: Sequence[DatasetResult], fmt: str = "github") -> str:
    """The results table: one row per (dataset, system), columns :data:`RESULT_HEADERS`."""
    return format_table(RESULT_HEADERS, [r.row() for r in results], fmt)


def results_json(results: Sequence[DatasetResult]) -> Dict[str, Dict[str, object]]:
    """``{dataset: {system: {summary, answer_warnings, recordings}}}`` for ``per_recording.json``."""
    out: Dict[str, Dict[str, object]] = {}
    for r in results:
        out.setdefault(r.dataset, {})[r.system] = r.as_json()
    return out


def format_results_md(
    env: Dict[str, str], results: Sequence[DatasetResult], title: str = "TagSpeech"
) -> str:
    """The ``RESULTS.md`` text: environment list, results table, answer-warning counts."""
    lines = [
        "<!-- Generated by espnet_tagspeech.bin.tagspeech_results -->",
        "# RESULTS",
        "## Environments",
    ]
    lines += [f"- {k}: `{v}`" for k, v in env.items()]
    lines += [
        "",
        f"## {title}",
        "DER/JER as dscore computes them (md-eval-22 semantics, overlap scored; "
        "UEM from the data dir if present, else reference + system extent); "
        "MISS/FA/CONF at collar 0; cpWER/tcpWER/WER by meeteval (WER: speaker-agnostic); "
        "ovl WER: speaker-agnostic WER of the reference words whose midpoint has >= 2 "
        "reference speakers talking (insertions counted with the preceding reference word; "
        "`-`: no reference word times); all numbers in percent.",
        "",
        results_table(results),
        "",
        "Decodings (test-set segmentation: `vad` = windows from a VAD, no reference used; "
        "`oracle` = the reference's utterance groups):",
        "",
    ]
    lines += [r.decoding_line() for r in results]
    lines += [
        "",
        "Cuts whose answer had parser warnings:",
        "",
    ]
    lines += [r.warnings_line() for r in results]
    lines.append("")
    return "\n".join(lines)
