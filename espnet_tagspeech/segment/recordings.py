"""Segment the recordings of a Kaldi dir into a decodable dir of windows (no reference needed).

The output has the layout stage 3 of the recipe leaves for decoding
(``make_cuts`` then ``format_wav_scp``): one 16 kHz mono 16-bit wav file per
window under ``data/``, and the tables

- ``wav.scp``: window id -> its wav file (ids ``<reco>_<start ms>_<end ms>``, 7 digits each),
- ``utt2spk`` / ``spk2utt``: window -> recording,
- ``utt2dur``: window -> seconds,
- ``cut2reco``: ``window recording start end`` (what ``merge_decodes --cut2reco`` reads),
- ``segment.yaml``: the settings used, when they are a
  :class:`~espnet_tagspeech.segment.config.SegmentConfig`.

There is no ``text`` (there is no reference) and no ``segments``: decoding
reads a ``segments`` file beside ``wav.scp`` as pieces of the recordings
``wav.scp`` lists, which these keys are not.

Every recording is read and segmented before anything is written; all bad
recordings are logged by ``wav.scp`` line and key, and the dir appears whole
or not at all (assembled in a temporary dir, then renamed).
"""

import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from espnet_tagspeech.data.atomic import check_writable, replace_dir, temp_dir_beside
from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.segment.config import RECORD_NAME, SegmentConfig
from espnet_tagspeech.segment.vad import SAMPLE_RATE, AbsSegmenter, QuietestPoint
from espnet_tagspeech.segment.windows import Region, Window, WindowConfig, make_windows

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


@dataclass(frozen=True)
class SegmentedRecording:
    """What segmentation found in one recording.

    Args:
        recording: Recording id.
        duration: Length in seconds (at 16 kHz after any resampling).
        regions: Speech regions the segmenter reported.
        windows: Decoding windows made from them.
    """

    recording: str
    duration: float
    regions: Tuple[Region, ...]
    windows: Tuple[Window, ...]

    @property
    def speech(self) -> float:
        """Seconds of speech the segmenter found."""
        return sum(r.duration for r in self.regions)


def load_mono_16k(entry: str, key: str, channel: int = 0) -> np.ndarray:
    """Audio of a ``wav.scp`` entry as mono float32 at 16 kHz.

    Multichannel audio keeps ``channel`` (with a warning); other rates are
    resampled (logged).

    Raises:
        AudioReadError: unreadable, empty or non-finite audio, or no such channel
            (the message names the key).
    """
    from espnet_tagspeech.data.kaldi import AudioReadError, load_audio

    audio, rate = load_audio(entry, key)
    what = f"wav.scp key {key!r} ({entry.strip()})"
    if audio.ndim == 2:
        if channel >= audio.shape[1]:
            raise AudioReadError(f"{what}: channel {channel} asked, the audio has {audio.shape[1]}")
        logger.warning("%s: %d channels, segmenting channel %d", what, audio.shape[1], channel)
        audio = audio[:, channel]
    if audio.size == 0:
        raise AudioReadError(f"{what}: empty audio")
    if not np.all(np.isfinite(audio)):
        raise AudioReadError(f"{what}: audio holds NaN or infinite samples")
    if rate != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly

        logger.info("%s: resampling %d Hz -> %d Hz", what, rate, SAMPLE_RATE)
        g = gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio.astype(np.float64), SAMPLE_RATE // g, rate // g)
    return np.ascontiguousarray(audio, dtype=np.float32)


def segment_audio(
    audio: np.ndarray, recording: str, segmenter: AbsSegmenter, config: WindowConfig = WindowConfig()
) -> SegmentedRecording:
    """Speech regions and decoding windows of one recording's mono 16 kHz audio.

    Continuous speech longer than a window is cut at its quietest moment
    (:class:`QuietestPoint`) near the even split.
    """
    duration = len(audio) / SAMPLE_RATE
    regions = tuple(segmenter.speech_regions(audio))
    windows = make_windows(regions, duration, recording, config, QuietestPoint(audio)) if regions else []
    return SegmentedRecording(recording, duration, regions, tuple(windows))


def write_window_audio(audio: np.ndarray, windows: Tuple[Window, ...], audio_dir: Path) -> Dict[str, float]:
    """Write each window's samples to ``audio_dir/<window id>.wav``; returns {id: seconds}."""
    import soundfile as sf

    out = {}
    for w in windows:
        piece = audio[int(round(w.start * SAMPLE_RATE)) : int(round(w.end * SAMPLE_RATE))]
        piece = np.clip(piece, -1.0, 32767 / 32768)
        sf.write(str(audio_dir / f"{w.id}.wav"), piece, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        out[w.id] = round(len(piece) / SAMPLE_RATE, 4)
    return out


# ----------------------------------------------------------------------------- one job per recording

_WORKER: Dict[str, object] = {}  # the segmenter and config of this process (set once per worker)


def _init_worker(segmenter: AbsSegmenter, config: WindowConfig, channel: int, log_level: int) -> None:
    """Pool initializer: keep the segmenter (model loaded once per process), set up logging."""
    logging.basicConfig(level=log_level, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")
    _WORKER.update(segmenter=segmenter, config=config, channel=channel)


def _job(
    item: Tuple[str, int, str, Optional[str]]
) -> Tuple[str, Optional[Tuple[int, str]], Optional[SegmentedRecording], Dict[str, float]]:
    """Segment one recording (and write its windows' audio).

    Returns:
        ``(key, (wav.scp line, error) or None, result, {window id: seconds})``.
    """
    from espnet_tagspeech.data.kaldi import AudioReadError

    key, lineno, entry, audio_dir = item
    segmenter: AbsSegmenter = _WORKER["segmenter"]  # type: ignore[assignment]
    try:
        audio = load_mono_16k(entry, key, int(_WORKER["channel"]))  # type: ignore[call-overload]
        result = segment_audio(audio, key, segmenter, _WORKER["config"])  # type: ignore[arg-type]
    except (AudioReadError, ValueError) as e:
        msg = str(e) if str(e).startswith("wav.scp key") else f"wav.scp key {key!r}: {e}"
        return key, (lineno, msg), None, {}
    if not result.windows:
        logger.warning("wav.scp key %r (%s): no speech found in %.2f s; no windows", key, entry.strip(),
                       result.duration)  # fmt: skip
    durations = write_window_audio(audio, result.windows, Path(audio_dir)) if audio_dir else {}
    logger.debug("%s: %.1f s speech of %.1f s -> %d windows",
                 key, result.speech, result.duration, len(result.windows))  # fmt: skip
    return key, None, result, durations


def segment_data_dir(
    in_dir: PathLike,
    out_dir: PathLike,
    segmenter: AbsSegmenter,
    config: WindowConfig = WindowConfig(),
    nj: int = 1,
    channel: int = 0,
) -> List[SegmentedRecording]:
    """Segment every recording of ``in_dir/wav.scp`` into the decodable dir ``out_dir``.

    Args:
        in_dir: Kaldi dir with ``wav.scp`` (``reco2dur`` optional: checked against the audio).
        out_dir: Output dir (replaced whole; see the module docstring for its files).
        segmenter: Finds the speech (its :meth:`~AbsSegmenter.prepare` is called first).
        config: How regions become windows (a ``SegmentConfig`` is also recorded in the dir).
        nj: Parallel processes.
        channel: Channel kept from multichannel audio.

    Returns:
        One result per recording, in ``wav.scp`` order.

    Raises:
        DataFormatError: missing or malformed ``wav.scp``, an output dir that cannot be
            written, bad recordings (all are logged, the first is in the message), or no
            speech anywhere; ``out_dir`` is then left as it was.
        SegmenterUnavailable: the segmenter's backend is not installed.
    """
    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import read_durations, scan_table, utt2spk_to_spk2utt, write_table

    src, dst = Path(in_dir), Path(out_dir)
    if src.resolve() == dst.resolve():
        raise DataFormatError(str(dst), None, "the output dir must differ from the input dir")
    wav_path = src / "wav.scp"
    entries = scan_table(wav_path)
    if not entries:
        raise DataFormatError(str(wav_path), None, "no recordings")
    reco2dur = read_durations(src / "reco2dur") if (src / "reco2dur").is_file() else {}
    check_writable(dst)
    segmenter.prepare()

    tmp = temp_dir_beside(dst)
    try:
        (tmp / "data").mkdir()
        items = [(e.key, e.lineno, str(e.value), str(tmp / "data")) for e in entries]
        init = (segmenter, config, channel, logging.getLogger().getEffectiveLevel())
        bar = dict(total=len(items), desc=f"segment {src.name}", unit="rec", file=sys.stderr, mininterval=2)
        if nj > 1 and len(items) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(min(nj, len(items)), _init_worker, init) as pool:
                results = list(tqdm(pool.imap(_job, items), **bar))
        else:
            _WORKER.update(segmenter=segmenter, config=config, channel=channel)
            results = [_job(it) for it in tqdm(items, **bar)]
        errors = [err for _, err, _, _ in results if err]
        if errors:
            for lineno, msg in errors:
                logger.error("%s", DataFormatError(str(wav_path), lineno, msg))
            more = f" (and {len(errors) - 1} more, logged above)" if len(errors) > 1 else ""
            raise DataFormatError(str(wav_path), errors[0][0], f"{errors[0][1]}{more}; nothing written")
        done = [r for _, _, r, _ in results if r is not None]
        for r in done:
            expected = reco2dur.get(r.recording)
            if expected is not None and abs(expected - r.duration) > 0.05:
                logger.warning("%s: %s lasts %.3f s, reco2dur says %.3f s", src / "reco2dur", r.recording,
                               r.duration, expected)  # fmt: skip
        windows = [w for r in done for w in r.windows]
        if not windows:
            raise DataFormatError(str(wav_path), None, f"no speech found in any of {len(done)} recordings; "
                                  "nothing written")  # fmt: skip
        if len({w.id for w in windows}) != len(windows):
            raise DataFormatError(str(wav_path), None, "two windows share an id (recording ids that "
                                  "extend each other with _<7 digits>_<7 digits>?)")  # fmt: skip
        durations = {cut: sec for _, _, _, d in results for cut, sec in d.items()}
        final_audio = dst.resolve() / "data"
        write_table(tmp / "wav.scp", {w.id: str(final_audio / f"{w.id}.wav") for w in windows})
        utt2spk = {w.id: w.recording for w in windows}
        write_table(tmp / "utt2spk", utt2spk)
        write_table(tmp / "spk2utt", utt2spk_to_spk2utt(utt2spk))
        write_table(tmp / "utt2dur", durations)
        write_table(tmp / "cut2reco", {w.id: f"{w.recording} {w.start:.3f} {w.end:.3f}" for w in windows})
        if isinstance(config, SegmentConfig):  # which windows these are, for the decode dir and the pack
            config.write_yaml(tmp / RECORD_NAME)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, dst)
    speech = sum(r.speech for r in done)
    logger.info("%s: %d recordings (%.1f s speech of %.1f s) -> %d windows (mean %.2f s) in %s",
                src, len(done), speech, sum(r.duration for r in done), len(windows),
                sum(w.duration for w in windows) / len(windows), dst)  # fmt: skip
    return done
