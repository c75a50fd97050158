"""Input checks and target tokenization for TagSpeech training and inference."""

import logging
from typing import Dict, Optional, Sequence, Union

import numpy as np

from espnet_tagspeech.data.errors import DataFormatError


def check_waveform(
    wav: np.ndarray,
    key: str,
    source: str = "<input>",
    sample_rate: Optional[int] = None,
    expected_rate: int = 16000,
) -> np.ndarray:
    """Validate one waveform before any model work; returns it as 1-D float32.

    Args:
        wav: The samples, ``(L,)`` (a ``(L, 1)`` array is accepted as mono).
        key: Utterance / cut id, named in errors.
        source: File the samples came from, named in errors.
        sample_rate: The audio's rate when known.
        expected_rate: The rate the model expects.

    Raises:
        DataFormatError: wrong sample rate, multi-channel, empty, or non-finite audio.
    """
    arr = np.asarray(wav)
    if sample_rate is not None and int(sample_rate) != int(expected_rate):
        raise DataFormatError(
            source, None, f"{key}: sample rate {sample_rate} Hz, the model expects {expected_rate} Hz"
        )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataFormatError(
            source,
            None,
            f"{key}: audio of shape {tuple(arr.shape)} is not mono; downmix or pick a channel",
        )
    if arr.size == 0:
        raise DataFormatError(source, None, f"{key}: empty audio")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataFormatError(source, None, f"{key}: audio of dtype {arr.dtype} is not numeric")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(source, None, f"{key}: audio holds NaN or infinite samples")
    return arr.astype(np.float32, copy=False)


def sot_transcript(target: str) -> str:
    """The words of a target's text lines in time order, one line per turn.

    The newline between lines plays the role of SOT's speaker-change symbol.
    """
    from espnet_tagspeech.serialization import parse

    turns = sorted(parse(target).turns, key=lambda t: (t.start, t.end))
    return "\n".join(t.text for t in turns if t.words)


def _read_scp(path: str) -> Dict[str, str]:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2:
                out[parts[0]] = parts[1]
    return out


class TagSpeechPreprocessor:
    """Checks the audio of each item and turns its target text into token ids.

    Args:
        train: Training mode (kept for ESPnet's interface).
        tokenizer: The LLM's tokenizer (``encode``).
        sample_rate: The rate the model expects.
        wav_scps: ``wav.scp`` files of the data, used to check each key's sample
            rate from its file header (plain file paths only).
    """

    def __init__(
        self,
        train: bool,
        tokenizer,
        sample_rate: int = 16000,
        wav_scps: Sequence[str] = (),
    ) -> None:
        self.train = train
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.scps = list(wav_scps)
        self._paths: Optional[Dict[str, str]] = None

    def _rate_of(self, key: str) -> Optional[int]:
        if self._paths is None:
            self._paths = {}
            for scp in self.scps:
                self._paths.update(_read_scp(scp))
        path = self._paths.get(key)
        if path is None or path.endswith("|") or " " in path:
            return None
        try:
            import soundfile

            return int(soundfile.info(path).samplerate)
        except Exception:  # not a plain audio file (ark offset, ...): cannot tell
            logging.debug("cannot read the header of %s", path)
            return None

    def __call__(self, uid: str, data: Dict[str, Union[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        """Check ``speech``, tokenize ``text`` (escaped newlines restored).

        Also adds ``ctc_text``, the tokens of :func:`sot_transcript`, for the
        optional auxiliary CTC loss.
        """
        from espnet_tagspeech.serialization import line_to_target

        source = self.scps[0] if self.scps else "<speech>"
        if "speech" in data:
            data["speech"] = check_waveform(
                data["speech"], uid, source, self._rate_of(uid), self.sample_rate
            )
        if "text" in data and isinstance(data["text"], str):
            target = line_to_target(data["text"])
            if not target.strip():
                raise DataFormatError("text", None, f"{uid}: empty target")
            data["text"] = np.asarray(self.tokenizer.encode(target), dtype=np.int64)
            data["ctc_text"] = np.asarray(self.tokenizer.encode(sot_transcript(target)), dtype=np.int64)
        return data
