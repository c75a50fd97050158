"""Whole meetings: segmentation -> batched window decoding -> cross-window speaker linking.

What stage 8 of the recipe does over a data dir (``segment_recordings``, the
decoding jobs, ``merge_decodes``), for one recording in memory: a user's
meeting of any length, with no reference, comes back with one speaker label
per person (:meth:`espnet_tagspeech.decode.speech2tags.Speech2Tags.__call__`).
"""

import logging
from typing import List, Optional

import numpy as np

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.decode.link import LinkConfig, RecordingTurns, link_recording
from espnet_tagspeech.segment.config import SegmentConfig

logger = logging.getLogger(__name__)


def to_model_audio(audio: np.ndarray, rate: int, key: str, model_rate: int) -> np.ndarray:
    """Mono float32 audio at the model's rate: channel 0 of multichannel audio (with a
    warning), other rates resampled (logged).

    Raises:
        DataFormatError: empty, non-numeric or non-finite audio, naming ``key``.
    """
    arr = np.asarray(audio)
    if arr.ndim == 2:
        if arr.shape[1] > 1:
            logger.warning("%s: %d channels, decoding channel 0", key, arr.shape[1])
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise DataFormatError("<audio>", None, f"{key}: empty audio or shape {tuple(np.shape(audio))}")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataFormatError("<audio>", None, f"{key}: audio of dtype {arr.dtype} is not numeric")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if not np.all(np.isfinite(arr)):
        raise DataFormatError("<audio>", None, f"{key}: audio holds NaN or infinite samples")
    if int(rate) != int(model_rate):
        from math import gcd

        from scipy.signal import resample_poly

        logger.info("%s: resampling %d Hz -> %d Hz", key, rate, model_rate)
        g = gcd(int(rate), int(model_rate))
        arr = resample_poly(arr.astype(np.float64), int(model_rate) // g, int(rate) // g)
    return np.ascontiguousarray(arr, dtype=np.float32)


def decode_meeting(
    s2t,
    audio: np.ndarray,
    rate: int,
    key: str = "meeting",
    segment: Optional[SegmentConfig] = None,
    link: Optional[LinkConfig] = None,
    batch_size: int = 8,
    embed=None,
    progress: bool = True,
):
    """Decode one recording of any length.

    With ``speaker_voice_passes: 2`` in ``s2t``'s decoding settings the windows are
    decoded a second time, the speaker blocks weighed against the voices of the
    speakers the first decoding linked, the text blocks kept (as stage 8 does).

    Args:
        s2t: A :class:`~espnet_tagspeech.decode.speech2tags.Speech2Tags`.
        audio: The recording (mono or ``(L, C)``), any rate.
        rate: Its sample rate.
        key: Recording id of the returned turns.
        segment: Segmentation settings (default :class:`SegmentConfig`).
        link: Linking settings (default :class:`LinkConfig`: the speakers of the
            answers' speaker blocks, linked by the model's speaker stream).
        batch_size: Windows decoded per call.
        embed: Voice-print function for linking (default: the model's speaker stream).
        progress: Show a progress bar.

    Returns:
        A :class:`~espnet_tagspeech.decode.speech2tags.TagResult`: text lines and speaker
        turns in recording time, speakers ``spk1``, ``spk2``... for the
        recording; ``text`` holds the windows' raw answers, one per line,
        each after its window id.
    """
    from tqdm import tqdm

    from espnet_tagspeech.decode.speech2tags import TagResult
    from espnet_tagspeech.segment.recordings import segment_audio
    from espnet_tagspeech.serialization import ParseResult

    segment = segment or SegmentConfig()
    link = link or LinkConfig()
    wav = to_model_audio(audio, rate, key, s2t.sample_rate)
    segmenter = segment.build_segmenter()
    segmenter.prepare()
    found = segment_audio(wav, key, segmenter, segment)
    if not found.windows:
        logger.warning("%s: no speech found (%.1f s of audio): no turns", key, found.duration)
        return TagResult(key=key, text="", warnings=["no speech found"])
    windows = list(found.windows)
    logger.info("%s: %.1f s, %d windows, %.1f s of speech", key, found.duration, len(windows), found.speech)
    if link.link != "none" and embed is None:
        from espnet_tagspeech.decode.voices import make_embedder

        embed = make_embedder(link.link, model=s2t.model, device=s2t.device)
    conf = s2t.decode_config
    passes = conf.speaker_voice_passes if conf.text_from == "llm" and conf.speaker_voice_bias else 1
    voices = None
    kept = None  # window id -> the previous pass's answer (its text block is kept)
    for p in range(passes):
        answers = {}
        turns = RecordingTurns()
        warnings: List[str] = []
        desc = f"decode {key}" + (f" (pass {p + 1} of {passes})" if passes > 1 else "")
        bar = tqdm(total=len(windows), desc=desc, unit="window", disable=not progress, mininterval=2)
        for b in range(0, len(windows), batch_size):
            part = windows[b : b + batch_size]
            pieces = [wav[int(w.start * s2t.sample_rate) : int(w.end * s2t.sample_rate)] for w in part]
            results = s2t.batch(pieces, fs=s2t.sample_rate, keys=[w.id for w in part],
                                recordings=[key] * len(part), offsets=[w.start for w in part],
                                voices=None if voices is None else [voices] * len(part),
                                keep_text=None if kept is None else [kept[w.id] for w in part])
            for w, res in zip(part, results):
                answers[w.id] = res.text
                warnings += [f"{w.id}: {x}" for x in res.warnings]
                parsed = ParseResult(turns=res.turns, speaker_turns=res.speaker_turns, warnings=res.warnings)
                turns.add_cut(w.id, w.start, w.end, parsed, link.rttm_from)
            bar.update(len(part))
        bar.close()
        diarization, lines = link_recording(turns, wav, s2t.sample_rate, link, embed)
        if p + 1 < passes:  # the linked speakers' voices, for the speaker blocks of the next pass
            from espnet_tagspeech.decode.link import recording_voices

            prints = recording_voices(lines, wav, s2t.sample_rate, s2t.voice_embedder())
            voices = np.stack([prints[k] for k in sorted(prints)]) if prints else None
            kept = answers
    text = "\n".join(f"{wid} {answer}" for wid, answer in answers.items())
    return TagResult(key=key, text=text, turns=sorted(lines, key=lambda t: (t.start, t.end)),
                     speaker_turns=sorted(diarization, key=lambda t: (t.start, t.end)), warnings=warnings)
