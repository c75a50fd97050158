#!/usr/bin/env python3
"""Data dir of ESPnet's asr task (SOT ASR) from the mini recipe's cuts.

Writes into ``--out_dir``: ``wav.scp`` (the cuts' entries), ``speech_shape`` (samples),
``cut2reco`` (copied) and, with ``--reco_dir`` (training / validation sets), ``text``:
each cut's reference utterances, taken from the whole-recording Kaldi dir
(``segments``, ``utt2spk``, ``text``), serialized in SOT order with ``<sc>`` at speaker
changes (``peerlib.sot_text``).

Example::

    python local/prep_sot.py --cuts_dir ../tagspeech1/dump/mini/raw/train_cuts \\
        --reco_dir ../tagspeech1/dump/mini/raw/train --out_dir data/sot/train
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("prep_sot")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts_dir", required=True, help="cuts dir: wav.scp, cut2reco")
    p.add_argument("--reco_dir", default="", help="whole-recording dir (segments, utt2spk, text): write SOT text")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--fs", type=int, default=16000, help="sampling rate the cuts must have")
    p.add_argument("--max_cuts", type=int, default=0,
                   help="keep only every k-th cut so that about N remain (0: all; smoke runs)")
    p.add_argument("--max_dur", type=float, default=0.0, help="drop cuts longer than this (s; 0: keep all)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Write the data dir; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import soundfile
    from tqdm import tqdm

    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import (
        read_segments,
        read_text,
        read_utt2spk,
        read_wav_scp,
        wav_entry_kind,
        write_table,
    )
    from peerlib import cut_utterances, sot_text

    cuts_dir, out_dir = Path(args.cuts_dir), Path(args.out_dir)
    try:
        wavs = read_wav_scp(cuts_dir / "wav.scp")
        cut2reco = read_segments(cuts_dir / "cut2reco")
        unknown = sorted(set(wavs) - set(cut2reco))
        if unknown:
            raise DataFormatError(str(cuts_dir / "cut2reco"), None,
                                  f"{len(unknown)} cut(s) of wav.scp missing, e.g. {unknown[0]!r}")
        for key, entry in wavs.items():
            if wav_entry_kind(entry) != "file":
                raise DataFormatError(str(cuts_dir / "wav.scp"), None,
                                      f"{key}: only wav files are supported, got {entry!r}")
        texts = {}
        if args.reco_dir:
            reco = Path(args.reco_dir)
            utts = cut_utterances(
                read_segments(reco / "segments"), read_utt2spk(reco / "utt2spk"),
                read_text(reco / "text"), {k: cut2reco[k] for k in wavs}, source=str(reco / "segments"),
            )
            texts = {cut: sot_text(us) for cut, us in utts.items()}
    except DataFormatError as e:
        logger.error("%s", e)
        return 1

    keys = sorted(wavs)
    if args.max_dur > 0:
        keys = [k for k in keys if cut2reco[k].duration <= args.max_dur]
    if args.max_cuts and len(keys) > args.max_cuts:
        step = len(keys) / args.max_cuts
        keys = [keys[int(i * step)] for i in range(args.max_cuts)]
    shapes = {}
    for key in tqdm(keys, desc=f"prep {out_dir.name}", unit="cut", disable=len(keys) < 200):
        try:
            info = soundfile.info(wavs[key])
        except RuntimeError as e:
            logger.error("%s: %s: cannot read %s: %s", cuts_dir / "wav.scp", key, wavs[key], e)
            return 1
        if info.samplerate != args.fs or info.channels != 1:
            logger.error("%s: %s is %d Hz, %d channel(s); need %d Hz mono",
                         cuts_dir / "wav.scp", key, info.samplerate, info.channels, args.fs)
            return 1
        shapes[key] = str(info.frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir / "wav.scp", {k: wavs[k] for k in keys})
    write_table(out_dir / "speech_shape", shapes)
    write_table(out_dir / "cut2reco", {k: cut2reco[k] for k in keys})
    if texts:
        write_table(out_dir / "text", {k: texts[k] for k in keys})
    logger.info("%s: %d cuts%s", out_dir, len(keys), " with SOT text" if texts else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
