"""Speech regions of a recording: the segmenters behind reference-free decoding.

Every segmenter takes mono float audio at 16 kHz and returns the
:class:`~espnet_tagspeech.segment.windows.Region` list of where it hears
speech; :func:`~espnet_tagspeech.segment.windows.make_windows` turns those into
decoding windows.  Two are here:

- :class:`SileroVadSegmenter`: the Silero VAD network (PyPI ``silero-vad``; its
  TorchScript model ships in the wheel and needs only torch).
- :class:`EnergySegmenter`: frame energy against a threshold set from the
  recording's own noise floor; no extra dependency, fine on clean audio.

Another segmenter (say, the model's own streams) only has to subclass
:class:`AbsSegmenter`.
"""

import logging
import warnings
from abc import ABC, abstractmethod
from typing import Dict, List, Tuple, Type

import numpy as np

from espnet_tagspeech.segment.windows import Region

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""The rate every segmenter expects its audio at."""


class SegmenterUnavailable(RuntimeError):
    """A segmenter's backend is not installed (the message says what to install)."""


class AbsSegmenter(ABC):
    """Finds speech in mono 16 kHz audio."""

    name: str = ""

    def prepare(self) -> None:
        """Load what the segmenter needs (a model), failing early if it cannot.

        Raises:
            SegmenterUnavailable: if a backend is missing.
        """

    @abstractmethod
    def speech_regions(self, audio: np.ndarray) -> List[Region]:
        """Where ``audio`` holds speech.

        Args:
            audio: Mono samples at :data:`SAMPLE_RATE`, float in [-1, 1].

        Returns:
            Disjoint speech regions in time order (seconds).
        """

    @staticmethod
    def _check(audio: np.ndarray) -> np.ndarray:
        """``audio`` as contiguous float32, after checking it is 1-D and finite."""
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise ValueError("audio holds NaN or infinite samples")
        return np.ascontiguousarray(audio, dtype=np.float32)


# ----------------------------------------------------------------------------- energy


def frame_energy_db(audio: np.ndarray, frame: float = 0.025, shift: float = 0.010) -> np.ndarray:
    """Mean power of each frame in dB relative to full scale (-100 dB for digital silence).

    Frame ``i`` covers samples ``[i * shift, i * shift + frame)`` at
    :data:`SAMPLE_RATE`; a recording shorter than one frame gives one frame.
    """
    n_frame = max(1, int(round(frame * SAMPLE_RATE)))
    n_shift = max(1, int(round(shift * SAMPLE_RATE)))
    n = len(audio)
    count = 1 + max(0, (n - n_frame) // n_shift)
    power = np.empty(count)
    block = 6000  # frames per block: a minute at 10 ms, so memory stays flat on long meetings
    for b0 in range(0, count, block):
        b1 = min(count, b0 + block)
        s0, s1 = b0 * n_shift, min(n, (b1 - 1) * n_shift + n_frame)
        x = np.asarray(audio[s0:s1], dtype=np.float64)
        sums = np.concatenate([[0.0], np.cumsum(x * x)])
        first = np.arange(b0, b1) * n_shift - s0
        last = np.minimum(first + n_frame, s1 - s0)
        power[b0:b1] = (sums[last] - sums[first]) / np.maximum(last - first, 1)
    return 10.0 * np.log10(np.maximum(power, 1e-10))


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """``(first, last + 1)`` of every run of True in a boolean vector."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class EnergySegmenter(AbsSegmenter):
    """Speech where a frame's energy clears a threshold set per recording.

    The threshold lies above the recording's noise floor (a low percentile of
    frame energies: meetings are mostly speech) by ``ratio`` of the span up to
    its loud speech (99th percentile), kept within ``[min_margin_db,
    margin_db]``, and never below ``floor_db``.  Pauses shorter than
    ``min_silence`` are bridged, then runs shorter than ``min_speech`` dropped.
    Meant for clean audio and tests: a recording with almost no pauses, or
    noise that varies, fools it.

    Args:
        margin_db: Largest margin above the noise floor (dB).
        ratio: Margin as a fraction of the loud-speech-to-floor span (dB / dB).
        min_margin_db: Smallest margin (stationary noise alone stays below it).
        noise_percentile: Percentile of frame energies taken as the noise floor.
        floor_db: Absolute floor in dB full scale (quieter is never speech).
        min_speech: Shortest kept speech run (seconds).
        min_silence: Shortest pause kept apart (seconds).
        frame: Analysis frame length (seconds).
        shift: Frame shift (seconds).
    """

    name = "energy"

    def __init__(
        self,
        margin_db: float = 6.0,
        ratio: float = 0.1,
        min_margin_db: float = 3.0,
        noise_percentile: float = 2.0,
        floor_db: float = -55.0,
        min_speech: float = 0.2,
        min_silence: float = 0.1,
        frame: float = 0.025,
        shift: float = 0.010,
    ) -> None:
        if not 0 < shift <= frame:
            raise ValueError(f"need 0 < shift <= frame, got {shift}, {frame}")
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        if not 0 <= noise_percentile < 99:
            raise ValueError(f"noise_percentile must be in [0, 99), got {noise_percentile}")
        if not 0 <= min_margin_db <= margin_db:
            raise ValueError(f"need 0 <= min_margin_db <= margin_db, got {min_margin_db}, {margin_db}")
        self.margin_db, self.ratio, self.floor_db = margin_db, ratio, floor_db
        self.min_margin_db = min_margin_db
        self.noise_percentile = noise_percentile
        self.min_speech, self.min_silence = min_speech, min_silence
        self.frame, self.shift = frame, shift

    def threshold_db(self, energy_db: np.ndarray) -> float:
        """The speech threshold for a recording with these frame energies."""
        noise, loud = np.percentile(energy_db, [self.noise_percentile, 99])
        margin = min(self.margin_db, max(self.min_margin_db, self.ratio * (loud - noise)))
        return float(max(noise + margin, self.floor_db))

    def speech_regions(self, audio: np.ndarray) -> List[Region]:
        """See :meth:`AbsSegmenter.speech_regions`."""
        audio = self._check(audio)
        if audio.size == 0:
            return []
        energy = frame_energy_db(audio, self.frame, self.shift)
        runs = _runs(energy > self.threshold_db(energy))
        joined: List[List[int]] = []
        for first, last in runs:
            if joined and (first - joined[-1][1]) * self.shift < self.min_silence - 1e-9:
                joined[-1][1] = last
            else:
                joined.append([first, last])
        duration = len(audio) / SAMPLE_RATE
        centre = self.frame / 2  # frame i stands for the 'shift' seconds around its centre
        out = []
        for first, last in joined:
            if (last - first) * self.shift < self.min_speech - 1e-9:
                continue
            start = max(0.0, first * self.shift + centre - self.shift / 2)
            end = min(duration, (last - 1) * self.shift + centre + self.shift / 2)
            if end > start:
                out.append(Region(start, end))
        return out


class QuietestPoint:
    """Picks the quietest moment of a recording between two times (for cutting speech).

    Args:
        audio: Mono samples at :data:`SAMPLE_RATE`.
        smooth: Seconds of frame energies averaged (a cut lands in a dip, not a sample).
        shift: Resolution in seconds.
    """

    def __init__(self, audio: np.ndarray, smooth: float = 0.05, shift: float = 0.010) -> None:
        self.shift = shift
        self.frame = 0.025
        energy = frame_energy_db(audio, self.frame, shift)
        width = max(1, int(round(smooth / shift)))
        self.energy = np.convolve(energy, np.ones(width) / width, mode="same")

    def __call__(self, lo: float, hi: float) -> float:
        """The centre of the quietest frame whose centre lies in ``[lo, hi]`` (its middle if none does)."""
        centres = np.arange(len(self.energy)) * self.shift + self.frame / 2
        inside = np.flatnonzero((centres >= lo) & (centres <= hi))
        if inside.size == 0:
            return (lo + hi) / 2
        return float(centres[inside[np.argmin(self.energy[inside])]])


# ----------------------------------------------------------------------------- silero


class SileroVadSegmenter(AbsSegmenter):
    """The Silero VAD network (TorchScript model from the ``silero-vad`` wheel).

    Its own padding is switched off: :func:`make_windows` pads windows.

    Args:
        threshold: Speech probability above which a 32 ms chunk is speech.
        min_speech: Shorter speech runs are dropped (seconds).
        min_silence: Shorter pauses do not end a run (seconds).
        threads: Torch threads while it runs (0: leave torch's setting); the
            network runs 32 ms chunk by chunk, so more threads only contend.
    """

    name = "silero"

    def __init__(
        self, threshold: float = 0.5, min_speech: float = 0.25, min_silence: float = 0.1, threads: int = 1
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        self.threshold, self.min_speech, self.min_silence = threshold, min_speech, min_silence
        self.threads = threads
        self._model = None

    def __getstate__(self) -> Dict[str, object]:
        # a TorchScript model is reloaded in each process rather than pickled
        return {**self.__dict__, "_model": None}

    def prepare(self) -> None:
        """Load the model once (from the installed wheel; nothing is downloaded)."""
        if self._model is not None:
            return
        import torch

        threads = torch.get_num_threads()
        try:
            from silero_vad import load_silero_vad
        except ImportError as e:
            raise SegmenterUnavailable(
                f"the silero segmenter needs the silero-vad package ({e}); "
                "install it with 'pip install silero-vad==6.2.3' or use the energy segmenter"
            ) from None
        finally:
            torch.set_num_threads(threads)  # importing silero_vad sets torch to one thread process-wide
        with warnings.catch_warnings():  # its loader uses a deprecated importlib.resources call
            warnings.simplefilter("ignore", DeprecationWarning)
            self._model = load_silero_vad(onnx=False)
        logger.debug("loaded the silero VAD TorchScript model")

    def speech_regions(self, audio: np.ndarray) -> List[Region]:
        """See :meth:`AbsSegmenter.speech_regions`."""
        import torch

        audio = self._check(audio)
        if audio.size == 0:
            return []
        self.prepare()  # imports silero_vad first, keeping torch's thread setting
        from silero_vad import get_speech_timestamps

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                stamps = get_speech_timestamps(
                    torch.from_numpy(audio), self._model, threshold=self.threshold, sampling_rate=SAMPLE_RATE,
                    min_speech_duration_ms=int(round(self.min_speech * 1000)),
                    min_silence_duration_ms=int(round(self.min_silence * 1000)),
                    speech_pad_ms=0, return_seconds=False,
                )  # fmt: skip
        finally:
            torch.set_num_threads(before)
        duration = len(audio) / SAMPLE_RATE
        return [Region(s["start"] / SAMPLE_RATE, min(s["end"] / SAMPLE_RATE, duration)) for s in stamps]


# ----------------------------------------------------------------------------- registry

SEGMENTERS: Dict[str, Type[AbsSegmenter]] = {"silero": SileroVadSegmenter, "energy": EnergySegmenter}
"""Segmenters by the name the command line uses."""


def build_segmenter(name: str, **options: object) -> AbsSegmenter:
    """The segmenter called ``name`` (see :data:`SEGMENTERS`) built with ``options``.

    Raises:
        ValueError: for an unknown name.
    """
    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose from {sorted(SEGMENTERS)}")
    return SEGMENTERS[name](**options)  # type: ignore[arg-type]


def silero_available() -> bool:
    """Whether ``silero_vad`` can be imported (without importing torch for it)."""
    import importlib.util

    return importlib.util.find_spec("silero_vad") is not None
