"""espeak-ng variants with warped formants: new training voices between the stock ones.

A stock espeak-ng variant (a text file in ``espeak-ng-data/voices/!v``) sets,
among other things, the frequency and height of each formant in percent of the
language's default (``formant N freq height width``).  Held-out variants differ
from the training ones mostly there, and not by one factor for every formant
(``shelby`` raises F2 by 40 % and F3 by 30 % while lowering F1), which speed
perturbation or a warp of the mel axis cannot reproduce.  A :class:`VoiceWarp`
scales formants 1-5 of a training variant, each by its own factor around one
shared factor, and their heights, so that the training voices fill the space
between the stock variants rather than sit on them.

libespeak-ng reads variants from its data directory only.  A warped variant is
therefore written into a private data directory (in the temp dir, shared by
processes and runs) that links the system's ``espeak-ng-data`` entries other
than its voices; the synthesizers are then pointed at it
(``espeak_Initialize``'s path, the command's ``--path``).  Stock voices keep
using the system's directory, so their samples do not change.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

DATA_ENV = "ESPEAK_DATA_PATH"  # espeak-ng's own variable: the directory holding espeak-ng-data
VARIANT_DIR = "voices/!v"
WARPED_FORMANTS = (1, 2, 3, 4, 5)  # formant 0 is the nasal one; 6-8 only shape the top band
# shared formant factor, each formant's own factor around it, and the height factor
SHARED_RANGE = (0.88, 1.14)
OWN_RANGE = (0.94, 1.06)
HEIGHT_RANGE = (0.8, 1.25)
# What else a warp may set, each over the span the stock variants use (the robotic ones,
# excluded from every split, aside): of the training variants only one has an echo above 15 %
# and few are breathy with little voicing, while held-out variants combine them.
# ``echo <delay ms> <amplitude %>``: stock 30-154 ms, 10-80 %
ECHO_DELAY_RANGE = (30, 160)
ECHO_AMP_RANGE = (10, 80)
# ``breath`` (noise on formants 1-8, per formant): stock 0-27; a drawn level, each formant around it
BREATH_LEVEL_RANGE = (2, 15)
# ``voicing`` (voiced amplitude, %): stock 30-530, mostly 35-165; the low end makes breath and
# consonants louder against the vowels
VOICING_RANGE = (30, 150)
_DEFAULT_FORMANT = (100, 100, 100)  # espeak-ng's percentages when a variant leaves one out
_FORMANT_LINE = re.compile(r"^\s*formant\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)")


@dataclass(frozen=True)
class VoiceWarp:
    """Factors applied to formants 1-5 of a variant.

    Args:
        freq: Frequency factor of each formant in ``WARPED_FORMANTS``.
        height: Height (amplitude) factor of each of them.
    """

    freq: Tuple[float, ...]
    height: Tuple[float, ...]
    echo: Optional[Tuple[int, int]] = None
    breath: Optional[Tuple[int, ...]] = None
    voicing: Optional[int] = None

    def __post_init__(self) -> None:
        n = len(WARPED_FORMANTS)
        if len(self.freq) != n or len(self.height) != n:
            raise ValueError(f"a VoiceWarp needs {n} frequency and {n} height factors, "
                             f"got {len(self.freq)} and {len(self.height)}")  # fmt: skip
        if not all(0.5 <= f <= 2.0 for f in self.freq + self.height):
            raise ValueError(f"VoiceWarp factors must lie in [0.5, 2]: {self}")
        if self.echo is not None and (len(self.echo) != 2 or not 0 <= self.echo[0] <= 500
                                      or not 0 <= self.echo[1] <= 100):  # fmt: skip
            raise ValueError(f"VoiceWarp echo must be (delay 0-500 ms, amplitude 0-100 %): {self.echo}")
        if self.breath is not None and (len(self.breath) != 8 or not all(0 <= b <= 100 for b in self.breath)):
            raise ValueError(f"VoiceWarp breath must be 8 levels in 0-100: {self.breath}")
        if self.voicing is not None and not 10 <= self.voicing <= 600:
            raise ValueError(f"VoiceWarp voicing must lie in 10-600 %: {self.voicing}")

    @property
    def tag(self) -> str:
        """A short stable digest of the factors (file names, cache keys)."""
        text = ",".join(f"{f:.3f}" for f in self.freq + self.height)
        # a warp without these keeps the digest (and the cache key) it had before they existed
        if self.echo is not None:
            text += f"|echo{self.echo[0]},{self.echo[1]}"
        if self.breath is not None:
            text += "|breath" + ",".join(map(str, self.breath))
        if self.voicing is not None:
            text += f"|voicing{self.voicing}"
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "VoiceWarp":
        """A random warp: one shared frequency factor, each formant's own around it."""
        shared = rng.uniform(*SHARED_RANGE)
        n = len(WARPED_FORMANTS)
        freq = tuple(round(float(shared * f), 3) for f in rng.uniform(*OWN_RANGE, size=n))
        height = tuple(round(float(h), 3) for h in rng.uniform(*HEIGHT_RANGE, size=n))
        return cls(freq, height)


def draw_effects(rng: np.random.Generator, share: float) -> Dict[str, object]:
    """Echo, breath and voicing settings, each kept with probability ``share`` (``VoiceWarp`` fields).

    Every value is drawn whether kept or not: a voice's draws do not depend on ``share``.
    """
    keep = rng.random(3) < share
    delay = int(rng.integers(ECHO_DELAY_RANGE[0], ECHO_DELAY_RANGE[1] + 1))
    echo = (delay, int(rng.integers(ECHO_AMP_RANGE[0], ECHO_AMP_RANGE[1] + 1)))
    level = rng.uniform(*BREATH_LEVEL_RANGE)
    breath = tuple(int(round(level * f)) for f in rng.uniform(0.3, 1.5, size=8))
    voicing = int(rng.integers(VOICING_RANGE[0], VOICING_RANGE[1] + 1))
    drawn = {"echo": echo, "breath": breath, "voicing": voicing}
    return {k: v for k, v, kept in zip(drawn, drawn.values(), keep) if kept}


def warped_variant_name(variant: str, warp: VoiceWarp) -> str:
    """The file name of ``variant`` warped by ``warp``: short and plain, as it follows ``+`` in ``-v``.

    libespeak-ng aborts (a fixed buffer overflows) on a long ``language+variant``
    name such as ``en-gb-scotland+`` with a 23-character variant.
    """
    return "tsw" + hashlib.sha1(f"{variant}|{warp.tag}".encode()).hexdigest()[:8]


def warp_variant_text(text: str, warp: VoiceWarp) -> str:
    """The variant file ``text`` with its formants 1-5 warped (and its echo, breath and voicing set, if the warp has them).

    The stock lines stay; ``formant`` lines appended at the end override them
    (espeak-ng applies a variant's lines in order).  A formant the stock file
    leaves out is warped from espeak-ng's default of 100 %.
    """
    formants: Dict[int, Tuple[int, int, int]] = {}
    for line in text.splitlines():
        m = _FORMANT_LINE.match(line)
        if m:
            formants[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    lines = [text.rstrip("\n"), "", "// formants warped by espnet_tagspeech.simulate.variants"]
    for n, fa, ha in zip(WARPED_FORMANTS, warp.freq, warp.height):
        f, h, w = formants.get(n, _DEFAULT_FORMANT)
        lines.append(f"formant {n} {max(1, round(f * fa))} {max(0, round(h * ha))} {w}")
    # after the stock lines, so these are the ones in force
    if warp.echo is not None:
        lines.append(f"echo {warp.echo[0]} {warp.echo[1]}")
    if warp.breath is not None:
        lines.append("breath " + " ".join(map(str, warp.breath)))
    if warp.voicing is not None:
        lines.append(f"voicing {warp.voicing}")
    return "\n".join(lines) + "\n"


def system_data_dir() -> Path:
    """The system's ``espeak-ng-data`` directory.

    Looked up in ``$ESPEAK_DATA_PATH``, then where ``espeak-ng --version`` says,
    then in the usual install locations.

    Raises:
        FileNotFoundError: if none holds ``voices/!v``.
    """
    candidates: List[Path] = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]) / "espeak-ng-data")
    exe = shutil.which("espeak-ng")
    if exe:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        m = re.search(r"Data at:\s*(\S.*)$", out.strip())
        if m:
            candidates.append(Path(m.group(1).strip()))
    for root in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib",
                 "/usr/share", "/usr/local/share", "/usr/local/lib"):  # fmt: skip
        candidates.append(Path(root) / "espeak-ng-data")
    for c in candidates:
        if (c / VARIANT_DIR).is_dir():
            return c
    raise FileNotFoundError("espeak-ng-data (with voices/!v) not found in: "
                            + ", ".join(str(c) for c in candidates))  # fmt: skip


class WarpedDataDir:
    """Private espeak-ng data directories, one per warped variant, shared by processes.

    Each holds links to the system's ``espeak-ng-data`` entries and, as its only
    variant, the warped file: espeak-ng lists every voice file it finds in a
    fixed table of 349 entries, which the languages and a few hundred variants
    in one directory would overflow.  A directory is built under a temporary
    name and renamed into place, so that concurrent workers (and later runs)
    share it; none is removed (a few kilobytes of links each), since worker
    processes end without running exit handlers.

    Args:
        system: The system's ``espeak-ng-data`` (found by :func:`system_data_dir` if None).
        root: Where to make them (default: ``espnet-tagspeech-espeak-<uid>`` in the temp dir).
    """

    def __init__(self, system: Optional[Path] = None, root: Optional[Path] = None) -> None:
        self.system = Path(system) if system is not None else system_data_dir()
        if root is None:
            root = Path(tempfile.gettempdir()) / f"espnet-tagspeech-espeak-{os.getuid()}"
        self.root = Path(root)

    def add(self, variant: str, warp: VoiceWarp) -> str:
        """Make the data directory of ``variant`` warped by ``warp`` (once).

        Returns:
            The directory to give espeak-ng (it holds ``espeak-ng-data``), in
            which the warped variant is named :func:`warped_variant_name`.

        Raises:
            ValueError: if ``variant`` is not a stock variant.
        """
        name = warped_variant_name(variant, warp)
        # the system's path is part of the name: links never point into another install
        top = self.root / f"{name}-{hashlib.sha1(str(self.system).encode()).hexdigest()[:6]}"
        if top.is_dir():
            return str(top)
        stock = self.system / VARIANT_DIR / variant
        if not stock.is_file():
            raise ValueError(f"espeak-ng has no variant {variant!r} (looked for {stock})")
        self.root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        data = build / "espeak-ng-data"
        (data / VARIANT_DIR).mkdir(parents=True)
        for entry in self.system.iterdir():
            if entry.name != "voices":
                (data / entry.name).symlink_to(entry)
        text = warp_variant_text(stock.read_text(encoding="utf-8", errors="replace"), warp)
        (data / VARIANT_DIR / name).write_text(text, encoding="utf-8")
        try:
            os.rename(build, top)
        except OSError:  # another process made it first
            shutil.rmtree(build, ignore_errors=True)
        return str(top)


_DIRS: Dict[str, WarpedDataDir] = {}


def warped_data_dir() -> WarpedDataDir:
    """The shared private data directories of the system's espeak-ng."""
    if "default" not in _DIRS:
        _DIRS["default"] = WarpedDataDir()
    return _DIRS["default"]
