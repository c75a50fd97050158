#!/usr/bin/env python3
"""Data dir of ESPnet's diar task (SA-EEND) from a Kaldi dir of whole recordings.

Writes into ``--out_dir``:

* ``wav.scp`` (the input's entries, files only), ``speech_shape`` (samples),
* with ``--rttm`` (training / validation sets): ``spk_labels.scp`` pointing to one
  ``labels/<rec>.npy`` per recording (float32 frames x ``--num_spk``, one row per
  frontend frame, see ``peerlib.frame_labels``) and ``spk_labels_shape``,
* ``rttm``, ``uem``, ``reco2dur`` copied when the input has them (scoring, tuning).

The shape files are what ESPnet's collect-stats would write for batching; writing them
here skips a pass over the audio (normalisation is per utterance, no global statistics).

Example::

    python local/prep_eend.py --in_dir ../tagspeech1/dump/mini/raw/train \\
        --out_dir data/eend/train --num_spk 3 --frame_shift 0.01
"""

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("prep_eend")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in_dir", required=True, help="Kaldi dir of whole recordings (wav.scp [, rttm, uem])")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--labels", choices=["true", "false"], default="true",
                   help="write speaker-activity labels from <in_dir>/rttm (training / validation)")
    p.add_argument("--train_config", default="",
                   help="diar_train yaml: num_spk, fs and frame shift (frontend hop_length / fs) from it")
    p.add_argument("--num_spk", type=int, default=3, help="speaker columns of the labels (the model's outputs)")
    p.add_argument("--fs", type=int, default=16000, help="sampling rate the recordings must have")
    p.add_argument("--frame_shift", type=float, default=0.01,
                   help="seconds between label rows: the frontend's hop_length / fs")
    p.add_argument("--max_recordings", type=int, default=0,
                   help="keep only the first N recordings in key order (0: all; smoke runs)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Write the data dir; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import numpy as np
    import soundfile
    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_rttm
    from espnet_tagspeech.data.kaldi import read_wav_scp, wav_entry_kind, write_table
    from espnet_tagspeech.data.turn import group_by_recording
    from peerlib import frame_labels, label_geometry, num_stft_frames

    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if args.train_config:
        try:
            args.num_spk, args.fs, args.frame_shift = label_geometry(args.train_config)
        except (OSError, ValueError) as e:
            logger.error("%s", e)
            return 1
    hop = args.frame_shift * args.fs
    if args.num_spk < 1 or args.frame_shift <= 0 or abs(hop - round(hop)) > 1e-6:
        logger.error("--num_spk must be >= 1 and --frame_shift * --fs a whole number of samples, got %s, %s",
                     args.num_spk, hop)
        return 2
    hop = int(round(hop))
    stamp = f"num_spk={args.num_spk} fs={args.fs} frame_shift={args.frame_shift:g} labels={args.labels} " \
            f"max_recordings={args.max_recordings}\n"
    if (out_dir / "speech_shape").is_file() and (out_dir / "prep.conf").is_file() \
            and (out_dir / "prep.conf").read_text(encoding="utf-8") == stamp:
        logger.info("%s: done before with the same settings", out_dir)
        return 0
    try:
        wavs = read_wav_scp(in_dir / "wav.scp")
        keys = sorted(wavs)[: args.max_recordings or None]
        for key in keys:
            if wav_entry_kind(wavs[key]) != "file":
                raise DataFormatError(str(in_dir / "wav.scp"), None,
                                      f"{key}: only wav files are supported, got {wavs[key]!r}")
        by_reco = {}
        if args.labels == "true":
            by_reco = group_by_recording(read_rttm(in_dir / "rttm"))
            missing = [k for k in keys if k not in by_reco]
            if missing:
                raise DataFormatError(str(in_dir / "rttm"), None,
                                      f"{len(missing)} recording(s) of wav.scp have no turns, e.g. {missing[0]!r}")
    except DataFormatError as e:
        logger.error("%s", e)
        return 1

    out_dir.mkdir(parents=True, exist_ok=True)
    shapes, label_scp, label_shapes = {}, {}, {}
    for key in tqdm(keys, desc=f"prep {out_dir.name}", unit="rec", disable=len(keys) < 50):
        path = wavs[key]
        try:
            info = soundfile.info(path)
        except RuntimeError as e:
            logger.error("%s: %s: cannot read %s: %s", in_dir / "wav.scp", key, path, e)
            return 1
        if info.samplerate != args.fs or info.channels != 1:
            logger.error("%s: %s: %s is %d Hz, %d channel(s); need %d Hz mono",
                         in_dir / "wav.scp", key, path, info.samplerate, info.channels, args.fs)
            return 1
        shapes[key] = str(info.frames)
        if args.labels == "true":
            rows = num_stft_frames(info.frames, hop)
            try:
                labels, _ = frame_labels(by_reco[key], rows, args.num_spk, args.frame_shift,
                                         source=f"{in_dir / 'rttm'} ({key})")
            except DataFormatError as e:
                logger.error("%s", e)
                return 1
            npy = (out_dir / "labels" / f"{key}.npy").resolve()
            with atomic_write(npy, "wb") as f:
                np.save(f, labels)
            label_scp[key] = str(npy)
            label_shapes[key] = f"{rows},{args.num_spk}"
    write_table(out_dir / "wav.scp", {k: wavs[k] for k in keys})
    write_table(out_dir / "speech_shape", shapes)
    if args.labels == "true":
        write_table(out_dir / "spk_labels.scp", label_scp)
        write_table(out_dir / "spk_labels_shape", label_shapes)
    keep = set(keys)
    for name in ("rttm", "uem", "reco2dur"):
        src = in_dir / name
        if not src.is_file():
            continue
        if len(keep) == len(wavs):
            shutil.copyfile(src, out_dir / name)
            continue
        with open(src, encoding="utf-8") as f, atomic_write(out_dir / name) as g:
            for line in f:
                fields = line.split()
                rec = fields[1] if name == "rttm" and fields else fields[0] if fields else ""
                if rec in keep:
                    g.write(line)
    with atomic_write(out_dir / "prep.conf") as f:
        f.write(stamp)
    logger.info("%s: %d recordings%s", out_dir, len(keys), " with labels" if label_scp else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
