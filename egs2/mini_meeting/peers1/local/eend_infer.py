#!/usr/bin/env python3
"""Decode whole recordings with an ESPnet SA-EEND model into an RTTM.

ESPnet's own inference class (``espnet2.bin.diar_inference.DiarizeSpeech``) runs the
model; its ``diar_inference`` CLI is not used because in espnet 202511 ``__call__``
returns ``(None, activities)`` instead of the activities (operator precedence), so the
CLI writes ``None`` for every recording.  This script takes the activities out of that
tuple (and accepts a bare array, should a later ESPnet fix it).

Per recording it writes ``<out_dir>/activities/<rec>.npy`` (frames x speakers sigmoid
outputs; kept, so re-thresholding needs no model) and then ``<out_dir>/rttm``: threshold,
median filter, runs of active encoder frames (``peerlib.activities_to_turns``; frame
times from the training config's frontend hop and label aggregator).

With ``--grid_thresholds`` / ``--grid_medians`` and a reference ``rttm`` in the data dir
(the dev set) the post-processing is chosen by DER (collar 0, the dir's ``uem``) and
written to ``<out_dir>/postproc.json``; ``--postproc`` applies such a file (the test set).

Example::

    python local/eend_infer.py --train_config exp/eend/config.yaml \\
        --model_file exp/eend/valid.der.ave.pth --data_dir data/eend/test \\
        --out_dir exp/eend/decode_test --postproc exp/eend/decode_dev/postproc.json
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("eend_infer")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train_config", required=True, help="the diar model's config.yaml")
    p.add_argument("--model_file", required=True, help="its .pth")
    p.add_argument("--data_dir", required=True, help="wav.scp (+ rttm, uem for tuning)")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="speaker active above this probability")
    p.add_argument("--median", type=int, default=1, help="odd median filter width in encoder frames")
    p.add_argument("--postproc", default="", help="JSON with threshold and median (overrides both)")
    p.add_argument("--grid_thresholds", type=float, nargs="*", default=[], help="thresholds to try on this dir")
    p.add_argument("--grid_medians", type=int, nargs="*", default=[], help="median widths to try on this dir")
    return p


def activities(args: argparse.Namespace, keys: List[str], wavs: Dict[str, str], out: Path) -> Dict[str, object]:
    """Run the model on every recording not yet done; returns {rec: (frames, spk) array}."""
    import numpy as np
    import soundfile
    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import atomic_write

    # activities of another model (retrained since) are stale: start over
    model = Path(args.model_file).resolve()
    stamp = f"{model} {model.stat().st_size} {model.stat().st_mtime_ns}\n"
    stamp_file = out / "activities" / "model.stamp"
    if stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") != stamp:
        logger.info("%s: model changed, decoding again", out)
        for old in (out / "activities").glob("*.npy"):
            old.unlink()
    with atomic_write(stamp_file) as f:
        f.write(stamp)
    done = {k: out / "activities" / f"{k}.npy" for k in keys}
    todo = [k for k in keys if not done[k].is_file()]
    if todo:
        import torch
        from espnet2.bin.diar_inference import DiarizeSpeech

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
        from peerlib import label_geometry

        num_spk = label_geometry(args.train_config)[0]
        diarize = DiarizeSpeech(train_config=args.train_config, model_file=args.model_file,
                                num_spk=num_spk, device="cpu")
        for key in tqdm(todo, desc="EEND", unit="rec"):
            audio, fs = soundfile.read(wavs[key], dtype="float32")
            if audio.ndim != 1:
                raise ValueError(f"{args.data_dir}/wav.scp: {key}: expected mono audio, got shape {audio.shape}")
            result = diarize(audio[None, :], fs=fs)
            probs = result[1] if isinstance(result, tuple) else result
            probs = np.asarray(probs, dtype=np.float32)[0]
            with atomic_write(done[key], "wb") as f:
                np.save(f, probs)
    return {k: np.load(done[k]) for k in keys}


def main(argv: Optional[List[str]] = None) -> int:
    """Decode, optionally tune, write the RTTM; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import read_rttm, read_uem, write_rttm
    from espnet_tagspeech.data.kaldi import read_durations, read_wav_scp
    from peerlib import activities_to_turns, frame_grid

    data, out = Path(args.data_dir), Path(args.out_dir)
    try:
        grid = frame_grid(args.train_config)
        wavs = read_wav_scp(data / "wav.scp")
        durations = read_durations(data / "reco2dur") if (data / "reco2dur").is_file() else {}
        if args.postproc:
            pp = json.loads(Path(args.postproc).read_text(encoding="utf-8"))
            args.threshold, args.median = float(pp["threshold"]), int(pp["median"])
    except (DataFormatError, ValueError, KeyError, OSError) as e:
        logger.error("%s", e)
        return 1
    keys = sorted(wavs)
    probs = activities(args, keys, wavs, out)

    def turns_of(threshold: float, median: int) -> list:
        return [t for k in keys for t in activities_to_turns(
            probs[k], k, grid, threshold, median, duration=durations.get(k))]

    if args.grid_thresholds or args.grid_medians:
        from espnet_tagspeech.scoring.diarization import score_diarization

        try:
            ref = read_rttm(data / "rttm")
            uem = read_uem(data / "uem") if (data / "uem").is_file() else None
        except DataFormatError as e:
            logger.error("tuning needs the reference: %s", e)
            return 1
        tried = []
        for th in args.grid_thresholds or [args.threshold]:
            for med in args.grid_medians or [args.median]:
                report = score_diarization(ref, turns_of(th, med), uem=uem, collar=0.0)
                tried.append({"threshold": th, "median": med, "der": report.overall.der})
                logger.info("threshold %.2f median %d: DER %.2f %%", th, med, report.overall.der)
        best = min(tried, key=lambda r: (r["der"], abs(r["threshold"] - 0.5), r["median"]))
        args.threshold, args.median = best["threshold"], best["median"]
        with atomic_write(out / "postproc.json") as f:
            json.dump({**best, "chosen_on": str(data), "tried": tried}, f, indent=1)
            f.write("\n")
        logger.info("chose threshold %.2f, median %d (DER %.2f %% c=0 on %s)",
                    args.threshold, args.median, best["der"], data)
    turns = turns_of(args.threshold, args.median)
    write_rttm(out / "rttm", turns)
    logger.info("%s: %d turns of %d recordings (threshold %.2f, median %d, frames of %.3f s)",
                out / "rttm", len(turns), len(keys), args.threshold, args.median, grid.shift)
    return 0


if __name__ == "__main__":
    sys.exit(main())
