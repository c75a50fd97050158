"""Speakers made of espeak-ng voices, and a cache of their synthesized words.

A speaker is a fixed espeak-ng voice (language + variant such as ``en-us+m3``),
pitch and speed, with the gender of its variant.  Words are synthesized one at
a time by the ``espeak-ng`` command (a fresh process per word, so the audio of a
word never depends on what was synthesized before it), resampled from
22.05 kHz to 16 kHz, and trimmed to the frames whose energy is within
``TRIM_DB`` of the word's loudest frame.  A word placed at sample ``n`` of a
meeting therefore occupies exactly ``[n, n + len(clip))``: word timings are
exact by construction.

Clips are cached per voice in ``<cache_dir>/<voice key>.npz`` (int16), written
atomically, so repeated runs and several splits synthesize every
(voice, word) pair once.
"""

import io
import logging
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from espnet_tagspeech.data.atomic import atomic_write

SAMPLE_RATE = 16000
TRIM_FRAME = 80  # 5 ms at 16 kHz
TRIM_DB = 30.0
_CACHE_VERSION = "v2"  # bump whenever synthesis or trimming changes

INSTALL_HINT = (
    "espeak-ng was not found on PATH. The meeting simulator needs it: install it with "
    "`sudo apt-get install espeak-ng` (Debian/Ubuntu), or run `make install-system` "
    "in the repository root."
)


class EspeakNotFoundError(RuntimeError):
    """espeak-ng is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Args:
        name: Speaker label used in every output file (e.g. ``f03``).
        language: espeak-ng language (``en-us``, ``en``, ``en-gb-scotland``...).
        variant: espeak-ng variant (``m3``, ``f2``, ``klatt``...).
        pitch: espeak-ng pitch 0-99.
        speed: Words per minute.
        gender: ``m`` or ``f``.
    """

    name: str
    language: str
    variant: str
    pitch: int
    speed: int
    gender: str

    @property
    def espeak_voice(self) -> str:
        """The ``-v`` argument of espeak-ng."""
        return f"{self.language}+{self.variant}"

    @property
    def key(self) -> str:
        """A file-name-safe key identifying the synthesis settings."""
        return f"{self.language}+{self.variant}_p{self.pitch}_s{self.speed}_{_CACHE_VERSION}"


VOICES: Sequence[Voice] = (
    Voice("m01", "en-us", "m3", 50, 210, "m"),
    Voice("f01", "en-us", "f2", 60, 205, "f"),
    Voice("m02", "en-us", "m7", 30, 195, "m"),
    Voice("f02", "en-us", "f3", 75, 215, "f"),
    Voice("m03", "en", "m1", 45, 220, "m"),
    Voice("f03", "en", "f4", 50, 200, "f"),
    Voice("m04", "en-us", "klatt", 40, 205, "m"),
    Voice("f04", "en-us", "f5", 65, 225, "f"),
    Voice("m05", "en-gb-scotland", "m2", 55, 205, "m"),
    Voice("f05", "en", "f1", 80, 210, "f"),
    Voice("m06", "en-us", "m4", 20, 215, "m"),
    Voice("f06", "en-gb-scotland", "f2", 45, 195, "f"),
    Voice("m07", "en", "m6", 60, 200, "m"),
    Voice("f07", "en-us", "f1", 55, 220, "f"),
    Voice("m08", "en-029", "m8", 35, 210, "m"),
    Voice("f08", "en-us", "f4", 85, 205, "f"),
)
"""The speaker pool: 8 male and 8 female voices, chosen to differ clearly."""


def voice_pool(split: str, disjoint: bool = False) -> List[Voice]:
    """The voices a split draws its speakers from.

    Args:
        split: ``train``, ``dev`` or ``test``.
        disjoint: If False (default) every split uses all 16 voices; if True
            train gets 8 voices, dev and test 4 each (2 male + 2 female), disjoint.
    """
    if not disjoint:
        return list(VOICES)
    # positions in VOICES alternate m/f, so each residue class keeps the balance
    wanted = {"train": (0, 1), "dev": (2,), "test": (3,)}[split]
    return [v for i, v in enumerate(VOICES) if (i // 2) % 4 in wanted]


def check_espeak() -> str:
    """Return the path of ``espeak-ng``.

    Raises:
        EspeakNotFoundError: if it is not on PATH, with installation advice.
    """
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakNotFoundError(INSTALL_HINT)
    return path


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a short clip through the FFT (float64 in/out)."""
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float64)
    n_out = int(round(len(x) * sr_out / sr_in))
    pad = len(x) // 8 + 64  # zero padding keeps the circular wrap-around silent
    xp = np.concatenate([x, np.zeros(pad)])
    n_out_p = int(round(len(xp) * sr_out / sr_in))
    spec = np.fft.rfft(xp)
    keep = min(len(spec), n_out_p // 2 + 1)
    y = np.fft.irfft(spec[:keep], n_out_p) * (n_out_p / len(xp))
    return y[:n_out]


def trim(x: np.ndarray, frame: int = TRIM_FRAME, db: float = TRIM_DB) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``db`` below the loudest frame."""
    n = len(x) // frame
    if n == 0:
        return x[:0]
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    peak = rms.max()
    if peak <= 0:
        return x[:0]
    active = np.nonzero(rms >= peak * 10 ** (-db / 20))[0]
    return x[active[0] * frame : (active[-1] + 1) * frame]


def synthesize_word(voice: Voice, word: str, espeak: Optional[str] = None) -> np.ndarray:
    """Synthesize one word with ``voice``: trimmed 16 kHz int16 samples.

    Raises:
        EspeakNotFoundError: if espeak-ng is missing.
        RuntimeError: if espeak-ng fails or produces silence.
    """
    exe = espeak or check_espeak()
    cmd = [exe, "--stdout", "-v", voice.espeak_voice, "-p", str(voice.pitch),
           "-s", str(voice.speed), word]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"espeak-ng failed for {word!r} ({voice.espeak_voice}): {err}")
    with wave.open(io.BytesIO(proc.stdout)) as w:
        sr = w.getframerate()
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    clip = trim(resample(raw, sr, SAMPLE_RATE))
    if len(clip) == 0:
        raise RuntimeError(f"espeak-ng produced silence for {word!r} ({voice.espeak_voice})")
    return np.clip(np.round(clip), -32768, 32767).astype(np.int16)


class WordBank:
    """Trimmed word clips per voice, backed by an optional on-disk cache.

    Args:
        cache_dir: Directory of ``<voice key>.npz`` files, or ``None`` for memory only.
    """

    def __init__(self, cache_dir: Optional[Path] = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._clips: Dict[str, Dict[str, np.ndarray]] = {}

    def _file(self, voice: Voice) -> Optional[Path]:
        return None if self.cache_dir is None else self.cache_dir / f"{voice.key}.npz"

    def _load(self, voice: Voice) -> Dict[str, np.ndarray]:
        if voice.key not in self._clips:
            clips: Dict[str, np.ndarray] = {}
            path = self._file(voice)
            if path is not None and path.is_file():
                with np.load(path) as data:
                    clips = {k: data[k] for k in data.files}
            self._clips[voice.key] = clips
        return self._clips[voice.key]

    def missing(self, voice: Voice, words: Iterable[str]) -> List[str]:
        """The words of ``words`` not yet synthesized for ``voice`` (sorted)."""
        have = self._load(voice)
        return sorted(set(words) - set(have))

    def ensure(self, voice: Voice, words: Iterable[str]) -> int:
        """Synthesize the missing words of ``voice`` and save the cache file.

        Returns:
            How many words were synthesized.
        """
        todo = self.missing(voice, words)
        if not todo:
            return 0
        exe = check_espeak()
        clips = self._load(voice)
        for word in todo:
            clips[word] = synthesize_word(voice, word, exe)
        path = self._file(voice)
        if path is not None:
            with atomic_write(path, "wb") as f:
                np.savez(f, **{k: clips[k] for k in sorted(clips)})
        logging.debug("synthesized %d words for %s", len(todo), voice.name)
        return len(todo)

    def clip(self, voice: Voice, word: str) -> np.ndarray:
        """The int16 clip of ``word`` spoken by ``voice`` (synthesized if needed)."""
        clips = self._load(voice)
        if word not in clips:
            self.ensure(voice, [word])
        return clips[word]
