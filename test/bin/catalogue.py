"""Helpers of the bad-input catalogue: a command line tool run as a user runs it (a
subprocess), the checks every bad input must pass (:func:`run_case`) and small inputs."""

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pytest
import soundfile as sf

SR = 16000
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")  # fmt: skip


@dataclass
class Call:
    """One run of a tool on bad input and what must come of it.

    Args:
        tool: Module name under ``espnet_tagspeech.bin``.
        argv: Its arguments (paths are made strings).
        rc: The exit status wanted (non-zero, or 0 where the data stays usable).
        says: Text the output must hold (the file and line, or the key, and the problem).
        readonly: Dirs made read-only for the run.
        made: With ``rc == 0``: files the run must leave complete.
    """

    tool: str
    argv: Sequence[Union[str, Path]]
    rc: int
    says: Union[str, Sequence[str]]
    readonly: Sequence[Path] = ()
    made: Sequence[Path] = field(default_factory=list)


def registrar(cases: Dict[str, Callable[[Path], Call]]) -> Callable[[str], Callable]:
    """A ``@case("tool/what")`` decorator that registers case builders in ``cases``."""

    def case(name: str) -> Callable:
        def register(build: Callable[[Path], Call]) -> Callable[[Path], Call]:
            if name in cases:
                raise ValueError(f"catalogue case {name!r} registered twice")
            cases[name] = build
            return build

        return register

    return case


def snapshot(root: Path) -> Dict[str, Tuple[str, Optional[str]]]:
    """Every dir and file under ``root``: relative path -> (kind, content hash)."""
    out: Dict[str, Tuple[str, Optional[str]]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = ("dir", None)
        for name in filenames:
            path = os.path.join(dirpath, name)
            digest = None if os.path.islink(path) else hashlib.sha1(Path(path).read_bytes()).hexdigest()
            out[os.path.relpath(path, root)] = ("file", digest)
    return out


@contextlib.contextmanager
def read_only(dirs: Sequence[Path]) -> Iterator[None]:
    """Make ``dirs`` read-only for the block: mode 0555, and immutable when running as root
    (root ignores the mode).  Skips the test where neither stops writes."""
    done = []
    try:
        for d in dirs:
            os.chmod(d, 0o555)
            done.append(d)
            if os.geteuid() == 0 and shutil.which("chattr"):
                subprocess.run(["chattr", "+i", str(d)], capture_output=True)
            probe = d / ".probe"
            try:
                probe.touch()
            except OSError:
                continue
            probe.unlink()
            pytest.skip(f"cannot make {d} read-only here")
        yield
    finally:
        for d in done:
            if os.geteuid() == 0 and shutil.which("chattr"):
                subprocess.run(["chattr", "-i", str(d)], capture_output=True)
            os.chmod(d, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def run_tool(tool: str, argv: Sequence[Union[str, Path]], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m espnet_tagspeech.bin.<tool> argv`` in ``cwd``, its output captured."""
    cmd = [sys.executable, "-m", f"espnet_tagspeech.bin.{tool}", *map(str, argv)]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def run_case(call: Call, work: Path) -> subprocess.CompletedProcess:
    """Run ``call`` in ``work`` and check what every bad input owes the user.

    - the exit status is ``call.rc``;
    - the output names the problem (``call.says``);
    - no Python traceback (the user's mistake is not a crash);
    - a failed run changes nothing under ``work`` (no file, no dir, no temporary); a
      run that goes on leaves its outputs complete and no temporary (hidden) file.
    """
    before = snapshot(work)
    with read_only(call.readonly):
        proc = run_tool(call.tool, call.argv, work)
    log = proc.stdout + proc.stderr
    where = (f"{call.tool} {' '.join(map(str, call.argv))}\n--- stdout\n{proc.stdout[-3000:]}\n"
             f"--- stderr\n{proc.stderr[-5000:]}")
    assert proc.returncode == call.rc, where
    for text in [call.says] if isinstance(call.says, str) else call.says:
        assert text in log, f"{text!r} not in the output of {where}"
    assert "Traceback" not in proc.stderr, where
    after = snapshot(work)
    if call.rc != 0:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"a failed run changed {changed} of {work}:\n{where}"
    else:
        new = [k for k in after if k not in before]
        assert not [k for k in new if any(p.startswith(".") for p in Path(k).parts)], (new, where)
        for f in call.made:
            assert Path(f).is_file() and Path(f).stat().st_size > 0, f"{f} missing or empty:\n{where}"
    return proc


# ----------------------------------------------------------------------------- small inputs


def write_wav(path: Path, seconds: float = 1.0, rate: int = SR, channels: int = 1, seed: int = 0,
              subtype: str = "PCM_16") -> Path:  # fmt: skip
    """Noise bursts (speech-like energy) between pauses: ``seconds`` long."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    audio = np.zeros(n, np.float32)
    for start in range(rate // 4, n - rate // 4, rate):
        audio[start : start + rate // 2] = 0.3 * rng.standard_normal(len(audio[start : start + rate // 2]))
    if channels > 1:
        audio = np.stack([audio] * channels, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


def nan_wav(path: Path) -> Path:
    """A float wav with NaN samples."""
    audio = np.zeros(SR, np.float32)
    audio[100:200] = np.nan
    sf.write(str(path), audio, SR, subtype="FLOAT")
    return path


def empty_wav(path: Path) -> Path:
    """A wav with a valid header and no samples."""
    sf.write(str(path), np.zeros(0, np.float32), SR)
    return path


def truncated_wav(path: Path) -> Path:
    """The first 30 bytes of a wav (the header cut short)."""
    write_wav(path)
    path.write_bytes(path.read_bytes()[:30])
    return path


def write(path: Path, text: Union[str, bytes]) -> Path:
    """Write ``text`` (bytes as they are), making the parent dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def data_dir(d: Path, wavs: Dict[str, Path], segments: Optional[List[str]] = None) -> Path:
    """A Kaldi data dir of ``wavs`` (whole recordings, or ``segments`` lines ``utt reco s e``)."""
    d.mkdir(parents=True, exist_ok=True)
    write(d / "wav.scp", "".join(f"{k} {v}\n" for k, v in sorted(wavs.items())))
    if segments:
        write(d / "segments", "".join(f"{s}\n" for s in segments))
        utts = [s.split()[0] for s in segments]
    else:
        utts = sorted(wavs)
    write(d / "utt2spk", "".join(f"{u} {u}\n" for u in sorted(utts)))
    write(d / "spk2utt", "".join(f"{u} {u}\n" for u in sorted(utts)))
    write(d / "text", "".join(f"{u} HELLO THERE\n" for u in sorted(utts)))
    return d
