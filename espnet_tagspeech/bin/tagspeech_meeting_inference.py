"""Decode whole meetings (any length, no reference): who spoke what and when.

Examples::

    python -m espnet_tagspeech.bin.tagspeech_meeting_inference \\
        --model_tag exp/tagspeech_mini/mini_packed.zip --out_dir out meeting1.wav meeting2.wav
    python -m espnet_tagspeech.bin.tagspeech_meeting_inference \\
        --model_tag exp/tagspeech_mini/mini_packed.zip --out_dir out --wav_scp data/test/wav.scp --nj 2

Each recording is segmented by a VAD, decoded window by window and its speakers
linked across windows (:meth:`espnet_tagspeech.decode.speech2tags.Speech2Tags.__call__`),
with the packed segmentation, decoding and linking configs unless ``--segment_config``,
``--inference_config``, ``--link_config`` or a segmentation flag (``--max_window 14``) say otherwise.
Writes into ``--out_dir``: ``rttm``, ``hyp.seglst.json``, ``hyp.stm``,
``text`` (per speaker: ``<recording>-<speaker> <words in time order>``),
``answers`` (every window's raw answer) and ``warnings``.  Each recording's
result is kept in ``out_dir/recordings/<id>.json`` as soon as it is decoded, so
a killed run decodes only what it lacks when started again.  ``--nj N`` runs N
local jobs through ``utils/run.pl``.  Every recording still to decode is read and
checked (readable, not empty, finite samples) before the model is loaded.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

logger = logging.getLogger("tagspeech_meeting_inference")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wavs", nargs="*", help="audio files (the recording id is the file name's stem)")
    p.add_argument("--wav_scp", help="or a Kaldi wav.scp of recordings")
    p.add_argument("--key_file", help="decode only these recordings of --wav_scp")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--model_tag", help="packed model (zip) or its unpacked dir")
    p.add_argument("--train_config", help="or the model's config.yaml ...")
    p.add_argument("--model_file", help="... and its weights")
    p.add_argument("--inference_config", help="decoding yaml (default: the packed one)")
    p.add_argument("--link_config", help="linking yaml (default: the packed one)")
    p.add_argument("--batch_size", type=int, default=8, help="windows decoded per call")
    p.add_argument("--nj", type=int, default=1, help="local jobs (utils/run.pl)")
    p.add_argument("--num_threads", type=int, default=0, help="torch threads per job (0: cores / nj)")
    p.add_argument("--device", default="cpu")
    from espnet_tagspeech.segment.config import SegmentConfig

    SegmentConfig.add_arguments(p)  # --segment_config yaml (default: the packed one) and one flag per setting
    return p


def _inputs(args) -> Dict[str, str]:
    """Recording id -> wav.scp entry, checked before any decoding.

    Raises:
        DataFormatError: a missing file, a duplicate id, or keys not in the wav.scp.
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import read_wav_scp, wav_entry_path

    items: Dict[str, str] = {}
    if args.wav_scp:
        items.update(read_wav_scp(args.wav_scp))
        for lineno, (key, entry) in enumerate(items.items(), 1):
            path = wav_entry_path(entry)
            if path is not None and not Path(path).is_file():
                raise DataFormatError(args.wav_scp, lineno, f"{key}: no such file {path}")
    for w in args.wavs:
        if not Path(w).is_file():
            raise DataFormatError(w, None, "no such audio file")
        key = Path(w).stem
        if key in items:
            raise DataFormatError(w, None, f"recording id {key!r} given twice")
        items[key] = w
    if args.key_file:
        wanted = [ln.split()[0] for ln in Path(args.key_file).read_text().splitlines() if ln.strip()]
        missing = [k for k in wanted if k not in items]
        if missing:
            raise DataFormatError(args.key_file, None, f"recordings not in the input: {missing[:5]}")
        items = {k: items[k] for k in wanted}
    if not items:
        raise DataFormatError(args.wav_scp or "<command line>", None, "no recordings to decode")
    return items


def _check_model_args(args) -> None:
    """The model and config files given exist (a packed zip is whole), checked before any work.

    Raises:
        DataFormatError: naming the file and the option that gave it.
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.decode.config import DecodeConfig
    from espnet_tagspeech.decode.link import LinkConfig
    from espnet_tagspeech.decode.packed import check_packed
    from espnet_tagspeech.segment.config import SegmentConfig

    if not (args.model_tag or args.train_config):
        raise DataFormatError("<command line>", None, "give --model_tag, or --train_config and --model_file")
    for opt in ("model_tag", "train_config", "model_file", "inference_config", "segment_config", "link_config"):
        path = getattr(args, opt)
        if path and not Path(path).exists():
            raise DataFormatError(path, None, f"no such file (given by --{opt})")
    if args.model_tag and args.model_tag.endswith(".zip") and Path(args.model_tag).is_file():
        check_packed(Path(args.model_tag))
    # the settings files' keys and values, before any audio is read
    if args.inference_config:
        DecodeConfig.read_yaml(args.inference_config)
    if args.link_config:
        LinkConfig.from_yaml(args.link_config)
    SegmentConfig.from_args(args)  # the segment yaml and flags


def _check_audio(items: Dict[str, str], out: Path) -> None:
    """Read every recording still to decode, one at a time, before any model is loaded.

    Raises:
        AudioReadError: an unreadable, empty or non-finite recording (named by its key).
    """
    from espnet_tagspeech.data.validate import check_decodable_audio

    for key, entry in items.items():
        if not (out / "recordings" / f"{key}.json").is_file():
            check_decodable_audio(key, entry)


def _speech2tags(args):
    from espnet_tagspeech.decode.config import DecodeConfig
    from espnet_tagspeech.decode.link import LinkConfig
    from espnet_tagspeech.segment.config import SegmentConfig
    from espnet_tagspeech.decode.speech2tags import load_speech2tags

    kwargs: Dict = {"device": args.device}
    if args.inference_config:
        kwargs["decode_config"] = DecodeConfig.read_yaml(args.inference_config)
    if args.link_config:
        kwargs["link_config"] = LinkConfig.from_yaml(args.link_config)
    s2t = load_speech2tags(args.model_tag, args.train_config, args.model_file, **kwargs)
    s2t.segment_config = SegmentConfig.from_args(args, base=s2t.segment_config)
    return s2t


def _result_dict(res) -> Dict:
    from espnet_tagspeech.data.formats import turns_to_seglst

    return {"key": res.key, "text": res.text, "warnings": res.warnings,
            "lines": turns_to_seglst(res.turns), "speakers": turns_to_seglst(res.speaker_turns)}


def _decode(args, items: Dict[str, str], out: Path) -> None:
    """Decode every recording not decoded yet into ``out/recordings/<id>.json``."""
    import torch

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.kaldi import load_audio

    torch.set_num_threads(args.num_threads or max(1, (os.cpu_count() or 1) // max(1, args.nj)))
    todo = [k for k in items if not (out / "recordings" / f"{k}.json").is_file()]
    if len(todo) < len(items):
        logger.info("%d of %d recordings already decoded in %s", len(items) - len(todo), len(items), out)
    if not todo:
        return
    s2t = _speech2tags(args)
    (out / "recordings").mkdir(parents=True, exist_ok=True)
    for key in todo:
        audio, rate = load_audio(items[key], key=key)
        res = s2t(audio, fs=rate, key=key, batch_size=args.batch_size)
        with atomic_write(out / "recordings" / f"{key}.json") as f:
            json.dump(_result_dict(res), f)


def _split_jobs(args, items: Dict[str, str], out: Path, argv: List[str]) -> None:
    """Decode through ``utils/run.pl`` in ``--nj`` jobs, each on its share of the recordings."""
    from espnet_tagspeech.data.atomic import atomic_write

    run_pl = Path(__file__).resolve().parents[2] / "utils" / "run.pl"
    if not run_pl.is_file():
        raise FileNotFoundError(f"{run_pl}: utils/run.pl of the repository is needed for --nj > 1")
    split = out / "split"
    split.mkdir(parents=True, exist_ok=True)
    keys = list(items)
    with atomic_write(split / "wav.scp") as f:
        f.writelines(f"{k} {items[k]}\n" for k in keys)
    nj = min(args.nj, len(keys))
    for j in range(nj):
        with atomic_write(split / f"keys.{j + 1}") as f:
            f.writelines(f"{k}\n" for k in keys[j::nj])
    drop = {"--nj", "--wav_scp", "--key_file"}
    rest, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        if a in drop:
            skip = 1
            continue
        if any(a.startswith(d + "=") for d in drop) or a in args.wavs:
            continue
        rest.append(a)
    threads = args.num_threads or max(1, (os.cpu_count() or 1) // nj)
    cmd = [sys.executable, str(run_pl), f"JOB=1:{nj}", str(out / "log" / "decode.JOB.log"),
           sys.executable, "-m", "espnet_tagspeech.bin.tagspeech_meeting_inference", *rest,
           "--wav_scp", str(split / "wav.scp"), "--key_file", str(split / "keys.JOB"),
           "--nj", "1", "--num_threads", str(threads), "--no_outputs"]
    if subprocess.run(cmd).returncode != 0:
        raise RuntimeError(f"decoding jobs failed: see {out / 'log'}/decode.*.log")


def _write_outputs(items: Dict[str, str], out: Path) -> None:
    """The recording-level files of every decoded recording."""
    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import seglst_to_turns, write_rttm, write_seglst, write_stm

    lines, speakers, answers, warnings, per_spk = [], [], [], [], {}
    for key in items:
        path = out / "recordings" / f"{key}.json"
        with open(path, encoding="utf-8") as f:
            res = json.load(f)
        lines += seglst_to_turns(res["lines"], str(path))
        speakers += seglst_to_turns(res["speakers"], str(path))
        answers += [f"{line}" for line in res["text"].splitlines() if line]
        warnings += [f"{key} {w}" for w in res["warnings"]]
    for t in sorted(lines, key=lambda t: (t.recording, t.start, t.end)):
        if t.words:
            per_spk.setdefault(f"{t.recording}-{t.speaker}", []).append(t.text)
    write_rttm(out / "rttm", speakers)
    write_seglst(out / "hyp.seglst.json", lines)
    write_stm(out / "hyp.stm", lines)
    for name, rows in (("answers", answers), ("warnings", warnings),
                       ("text", [f"{k} {' '.join(v)}" for k, v in sorted(per_spk.items())])):
        with atomic_write(out / name) as f:
            f.writelines(r + "\n" for r in rows)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = get_parser()
    parser.add_argument("--no_outputs", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import AudioReadError

    out = Path(args.out_dir)
    try:
        items = _inputs(args)
        _check_model_args(args)
        check_writable(out)
        if not args.no_outputs:  # (the jobs of --nj > 1 were checked by the command that split them)
            _check_audio(items, out)
        out.mkdir(parents=True, exist_ok=True)
        if args.nj > 1:
            _split_jobs(args, items, out, argv)
        else:
            _decode(args, items, out)
        if not args.no_outputs:
            _write_outputs(items, out)
    except (DataFormatError, AudioReadError, ValueError, FileNotFoundError, PermissionError, RuntimeError) as e:
        logger.error("%s", e)
        return 1
    logger.info("decoded %d recordings into %s", len(items), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
