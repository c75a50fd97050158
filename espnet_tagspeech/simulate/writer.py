"""Write simulated meetings: wav files, the truth, and a Kaldi data dir.

The data dir has one segment per speaker turn (``segments``, ``utt2spk``,
``text``), the recordings (``wav.scp``, ``reco2dur``), ``spk2gender``, the
diarization reference (``rttm``, ``uem`` covering each whole recording), word
times (``words.ctm``, channel = speaker), the turn-level meeteval reference
``ref.seglst.json`` and the complete truth ``truth.jsonl`` (one :class:`Turn`
per line with gender and word times).
"""

import json
import wave
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Union

import numpy as np

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.data.formats import write_ctm, write_seglst
from espnet_tagspeech.data.kaldi import KaldiDataDir, Segment
from espnet_tagspeech.data.turn import Turn, Word, sort_turns
from espnet_tagspeech.simulate.voices import SAMPLE_RATE

PathLike = Union[str, Path]


def write_wav(path: PathLike, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono samples as a PCM wav file, atomically."""
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError("write_wav expects a 1-d int16 array")
    with atomic_write(path, "wb") as f:
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(samples.astype("<i2").tobytes())


def turn_to_dict(turn: Turn) -> dict:
    """A JSON-ready dict of a turn (times rounded to 0.1 ms)."""
    return {
        "recording": turn.recording,
        "speaker": turn.speaker,
        "gender": turn.gender,
        "start": round(turn.start, 4),
        "end": round(turn.end, 4),
        "words": [[w.text, round(w.start, 4), round(w.end, 4)] if w.timed else [w.text]
                  for w in turn.words],  # fmt: skip
    }


def write_truth(path: PathLike, turns: Iterable[Turn]) -> None:
    """Write turns as JSON lines (see :func:`read_truth`)."""
    with atomic_write(path) as f:
        for t in sort_turns(turns):
            f.write(json.dumps(turn_to_dict(t), sort_keys=True) + "\n")


def read_truth(path: PathLike) -> List[Turn]:
    """Read a ``truth.jsonl`` file back into turns.

    Raises:
        DataFormatError: naming the line of the first malformed record.
    """
    turns = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFormatError(str(path), None, "no such file") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            words = tuple(Word(w[0], w[1], w[2]) if len(w) == 3 else Word(w[0]) for w in d["words"])
            turns.append(Turn(d["recording"], d["speaker"], float(d["start"]), float(d["end"]),
                              words, d.get("gender", "u")))  # fmt: skip
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
            raise DataFormatError(str(path), lineno, f"bad turn record: {e}") from None
    return turns


def utterance_id(turn: Turn) -> str:
    """Kaldi utterance id of a turn: speaker-prefixed so utt2spk sorts by speaker."""
    return (f"{turn.speaker}-{turn.recording}-"
            f"{int(round(turn.start * 1000)):07d}-{int(round(turn.end * 1000)):07d}")  # fmt: skip


def write_data_dir(
    data_dir: PathLike,
    turns: Iterable[Turn],
    wav_paths: Mapping[str, str],
    durations: Mapping[str, float],
) -> None:
    """Write the Kaldi data dir of simulated meetings.

    Args:
        data_dir: Output directory.
        turns: All turns of all recordings (with word times and genders).
        wav_paths: {recording: wav file path as it should appear in wav.scp}.
        durations: {recording: length in seconds}.

    Raises:
        ValueError: if two turns map to the same utterance id or a turn names
            an unknown recording.
    """
    turns = sort_turns(turns)
    segments: Dict[str, Segment] = {}
    utt2spk: Dict[str, str] = {}
    text: Dict[str, str] = {}
    spk2gender: Dict[str, str] = {}
    for t in turns:
        if t.recording not in wav_paths:
            raise ValueError(f"turn of {t.speaker} names unknown recording {t.recording}")
        utt = utterance_id(t)
        if utt in segments:
            raise ValueError(f"duplicate utterance id {utt}")
        segments[utt] = Segment(t.recording, t.start, t.end)
        utt2spk[utt] = t.speaker
        text[utt] = t.text
        spk2gender[t.speaker] = t.gender
    out = KaldiDataDir(data_dir)
    out.write(
        wav_scp=dict(wav_paths),
        segments=segments,
        utt2spk=utt2spk,
        text=text,
        reco2dur={k: float(v) for k, v in durations.items()},
        rttm=turns,
        uem={k: (0.0, float(v)) for k, v in durations.items()},
        spk2gender=spk2gender,
    )
    path = Path(data_dir)
    write_ctm(path / "words.ctm", turns)
    write_seglst(path / "ref.seglst.json", turns)
    write_truth(path / "truth.jsonl", turns)
