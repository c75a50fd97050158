"""ESPnet-style ``RESULTS.md`` from decode directories.

A *reference directory* is a Kaldi data dir holding ``rttm`` (optionally
``uem``) and ``ref.seglst.json`` (turn-level reference with text). A *decode
directory* holds the decoder's ``rttm`` and ``hyp.seglst.json``. For each
pair, :func:`evaluate_dataset` computes

* DER at collar 0 and 0.25 s, JER, and MISS / FA / CONF (collar 0), all with
  dscore semantics (:mod:`.diarization`);
* cpWER and tcpWER (meeteval, :mod:`.wer`) and the speaker-count accuracy.

:func:`format_results_md` writes the table under an environment header
(date, Python / torch / espnet / transformers versions, git commit, model
config), like ESPnet's ``RESULTS.md``.
"""

import datetime
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import read_rttm, read_seglst, read_uem
from espnet_tagspeech.scoring.diarization import score_diarization
from espnet_tagspeech.scoring.table import format_table
from espnet_tagspeech.scoring.wer import score_words

PathLike = Union[str, Path]

RESULT_HEADERS = (
    "dataset", "DER c=0", "DER c=0.25", "JER", "MISS", "FA", "CONF",
    "cpWER", "tcpWER", "spk-count acc",
)


@dataclass
class DatasetResult:
    """Summary numbers of one dataset (percent) and its per-recording details."""

    dataset: str
    summary: Dict[str, float]
    per_recording: Dict[str, Dict[str, object]]

    def row(self) -> List[object]:
        """The table row in :data:`RESULT_HEADERS` order."""
        s = self.summary
        return [
            self.dataset, s["der_c0"], s["der_c025"], s["jer"], s["miss"], s["fa"],
            s["conf"], s["cpwer"], s["tcpwer"], s["spk_count_acc"],
        ]


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataFormatError(str(path), None, "no such file")
    return path


def evaluate_dataset(
    decode_dir: PathLike,
    ref_dir: PathLike,
    dataset: Optional[str] = None,
    tcp_collar: float = 5.0,
) -> DatasetResult:
    """Score one decode directory against its reference data directory.

    Args:
        decode_dir: Holds ``rttm`` and ``hyp.seglst.json``.
        ref_dir: Holds ``rttm``, optional ``uem`` and ``ref.seglst.json``.
        dataset: Name in the table (default: the reference dir's name).
        tcp_collar: tcpWER collar in seconds.

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

    dia0 = score_diarization(ref_rttm, hyp_rttm, uem=uem, collar=0.0)
    dia25 = score_diarization(ref_rttm, hyp_rttm, uem=uem, collar=0.25)
    # ORC-WER is not in the table and its matching is exponential in segments per recording.
    words = score_words(ref_words, hyp_words, collar=tcp_collar, metrics=("cpwer", "tcpwer", "wer"))
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
    return DatasetResult(dataset or r.name, summary, dict(sorted(per.items())))


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


def format_results_md(
    env: Dict[str, str], results: Sequence[DatasetResult], title: str = "TagSpeech"
) -> str:
    """The ``RESULTS.md`` text: environment list, then the results table."""
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
        "MISS/FA/CONF at collar 0; cpWER/tcpWER by meeteval; all numbers in percent.",
        "",
        format_table(RESULT_HEADERS, [r.row() for r in results], "github"),
        "",
    ]
    return "\n".join(lines)
