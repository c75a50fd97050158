"""Format a data dir's audio: 16 kHz mono 16-bit wav files, segments applied.

Usage::

    python -m espnet_tagspeech.bin.format_wav_scp --in_dir data/train \\
        --out_dir dump/raw/train --fs 16000 --nj 4 [--recordings]

With ``--recordings`` (or when the dir has no ``segments``) every recording of
``wav.scp`` is written whole and the other files are copied; ``reco2dur`` is
recomputed.  Otherwise every segment becomes one wav file: ``wav.scp`` is then
keyed by utterance, ``segments`` is kept as ``cut2reco`` (where each piece came
from) and ``utt2dur`` is written.

Every entry is read and checked before anything is written; all unreadable,
empty or non-finite entries are reported by key and nothing is left behind
(the output is assembled in a temporary dir and renamed).
"""

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Tuple

logger = logging.getLogger("format_wav_scp")

# Tables copied as they are: per utterance (always) and per recording (whole recordings only;
# with segments applied the keys are utterances and recording-level files would dangle).
COPY_UTT = ("utt2spk", "spk2utt", "text", "utt2gender", "spk2gender")
COPY_RECO = ("rttm", "uem", "ref.seglst.json", "words.ctm", "words.seglst.json", "reco2num_spk")


def _job(
    args: Tuple[str, str, Optional[float], Optional[float], str, int, int]
) -> Tuple[str, Optional[str], float, int]:
    """Read, check, convert and write one item; returns (key, error, seconds, channels read)."""
    import numpy as np
    import soundfile as sf

    from espnet_tagspeech.data.kaldi import AudioReadError, load_audio, read_segment

    key, entry, start, end, out, fs, channel = args
    try:
        if start is None:
            audio, rate = load_audio(entry, key)
        else:
            audio, rate = read_segment(entry, start, end, key=key)
    except AudioReadError as e:
        return key, str(e), 0.0, 0
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    if audio.ndim == 2:
        if channel >= audio.shape[1]:
            return key, f"key {key!r}: channel {channel} asked, audio has {audio.shape[1]}", 0.0, channels
        audio = audio[:, channel]
    if audio.size == 0:
        return key, f"key {key!r}: empty audio", 0.0, channels
    if not np.all(np.isfinite(audio)):
        return key, f"key {key!r}: audio holds NaN or infinite samples", 0.0, channels
    if rate != fs:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(rate, fs)
        audio = resample_poly(audio.astype(np.float64), fs // g, rate // g)
    audio = np.clip(audio, -1.0, 32767 / 32768).astype(np.float32)
    sf.write(out, audio, fs, subtype="PCM_16", format="WAV")
    return key, None, len(audio) / fs, channels


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True, help="Kaldi data dir")
    p.add_argument("--out_dir", required=True, help="output data dir (replaced)")
    p.add_argument("--fs", type=int, default=16000, help="output sample rate")
    p.add_argument("--nj", type=int, default=4, help="parallel processes")
    p.add_argument("--channel", type=int, default=0, help="channel kept from multichannel audio")
    p.add_argument("--recordings", action="store_true", help="write whole recordings, keep segments")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")

    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import check_writable, replace_dir, temp_dir_beside
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import KaldiDataDir, scan_table, write_table

    src, dst = Path(args.in_dir), Path(args.out_dir)
    d = KaldiDataDir(src)
    try:
        wav = d.wav_scp
        if wav is None:
            raise DataFormatError(str(src / "wav.scp"), None, "no such file")
        segments = None if args.recordings else d.segments
        check_writable(dst)
    except DataFormatError as e:
        logger.error("%s", e)
        return 1
    # where each job's entry is, for the messages: wav.scp lines, or segments lines
    listed = src / ("wav.scp" if segments is None else "segments")
    line_of = {e.key: e.lineno for e in scan_table(listed)}

    tmp = temp_dir_beside(dst)
    final_audio = dst.resolve() / "data"
    (tmp / "data").mkdir()
    jobs = []
    if segments is None:
        for key, entry in wav.items():
            jobs.append((key, entry, None, None, str(tmp / "data" / f"{key}.wav"), args.fs, args.channel))
    else:
        for utt, seg in segments.items():
            if seg.recording not in wav:
                logger.error("%s", DataFormatError(str(listed), line_of.get(utt),
                                                   f"utterance {utt} names recording {seg.recording}, "
                                                   "not in wav.scp"))  # fmt: skip
                shutil.rmtree(tmp)
                return 1
            jobs.append((utt, wav[seg.recording], seg.start, seg.end,
                         str(tmp / "data" / f"{utt}.wav"), args.fs, args.channel))

    results = []
    try:
        if args.nj > 1 and len(jobs) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(min(args.nj, len(jobs))) as pool:
                for r in tqdm(pool.imap(_job, jobs, chunksize=4), total=len(jobs),
                              desc=f"format {src.name}", file=sys.stderr, mininterval=2):
                    results.append(r)
        else:
            for j in tqdm(jobs, desc=f"format {src.name}", file=sys.stderr, mininterval=2):
                results.append(_job(j))
        errors = [(key, err) for key, err, _, _ in results if err]
        if errors:
            for key, err in errors:
                logger.error("%s", DataFormatError(str(listed), line_of.get(key), err))
            logger.error("%d of %d entries of %s are bad; nothing written", len(errors), len(jobs), src)
            shutil.rmtree(tmp)
            return 1
        several = [(key, n) for key, _, _, n in results if n > 1]
        if several:
            key, n = several[0]
            logger.warning("%d of %d entries have several channels: channel %d kept (first: %s:%s: "
                           "key %r, %d channels)", len(several), len(jobs), args.channel, listed,
                           line_of.get(key), key, n)  # fmt: skip
        durations = {key: round(sec, 4) for key, _, sec, _ in results}
        new_wav = {key: str(final_audio / f"{key}.wav") for key, _, _, _ in results}
        write_table(tmp / "wav.scp", new_wav)
        for name in COPY_UTT + (COPY_RECO if segments is None else ()):
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
        if segments is None:
            write_table(tmp / "reco2dur", durations)
            if (src / "segments").is_file():
                shutil.copyfile(src / "segments", tmp / "segments")
            if (src / "utt2dur").is_file():
                shutil.copyfile(src / "utt2dur", tmp / "utt2dur")
        else:
            write_table(tmp / "utt2dur", durations)
            write_table(tmp / "cut2reco", {u: f"{s.recording} {s.start:.3f} {s.end:.3f}"
                                           for u, s in segments.items()})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, dst)
    total = sum(durations.values())
    logger.info("wrote %d files (%.2f h) to %s", len(results), total / 3600, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
