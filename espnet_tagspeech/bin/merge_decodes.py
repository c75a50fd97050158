"""Merge per-job decoding outputs into recording-level RTTM and SegLST.

Usage::

    python -m espnet_tagspeech.bin.merge_decodes --out_dir DIR --config conf/link_speakers.yaml \\
        --cut2reco dump/raw/test_cuts/cut2reco --wav_scp dump/raw/test/wav.scp \\
        --train_config exp/config.yaml --model_file exp/model.pth \\
        DIR/logdir/output.1 DIR/logdir/output.2 ...

Each job dir holds ``text``: one raw model output per cut (newlines escaped).
Each output is parsed (never raising; warnings are counted and written to
``parse_warnings``), moved to recording time with ``cut2reco`` (``cut reco
start end``), clipped to its cut, and the cut-local speakers of each recording
are linked into recording-level speakers
(:func:`espnet_tagspeech.decode.link.link_recording`, settings from
``--config`` and the ``--<setting>`` flags of
:class:`~espnet_tagspeech.decode.link.LinkConfig`).  Writes ``text``,
``rttm``, ``hyp.seglst.json`` and ``parse_warnings`` into ``--out_dir``;
with ``--voices_from``, also ``voices.json``: each recording speaker's voice
print over its lines (what a second decoding pass reads,
``tagspeech_inference --recording_voices``).
"""

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

logger = logging.getLogger("merge_decodes")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet_tagspeech.decode.link import add_link_arguments

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job_dirs", nargs="+", help="per-job output dirs holding 'text'")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--cut2reco", help="cut -> 'reco start end' (else keys are recordings)")
    p.add_argument("--wav_scp", help="recording wav.scp (needed for linking)")
    p.add_argument("--train_config", help="model config.yaml (link: model)")
    p.add_argument("--model_file", help="model weights (link: model)")
    p.add_argument("--reco2num_spk", help="known speaker count per recording (oracle linking)")
    p.add_argument("--voices_from", choices=("model", "fbank", "resemblyzer"),
                   help="write voices.json: each linked speaker's voice print by this encoder "
                        "(the decoding's speaker_voice_from)")
    add_link_arguments(p)
    return p


def read_cut2reco(path: str) -> Dict[str, Tuple[str, float, float]]:
    """``cut2reco`` (``cut recording start end``) as {cut: (recording, start, end)}.

    Raises:
        DataFormatError: naming the file and line of a malformed entry.
    """
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.kaldi import TableSpec, scan_table

    out = {}
    for e in scan_table(path, TableSpec("cut2reco", 4, 4, "fields")):
        reco, start, end = e.value  # type: ignore[misc]
        try:
            s, t = float(start), float(end)
        except ValueError:
            raise DataFormatError(path, e.lineno, f"times of {e.key!r} are not numbers: {start!r} {end!r}") from None
        if not 0 <= s < t:
            raise DataFormatError(path, e.lineno, f"cut {e.key!r}: bad span {start}-{end}")
        out[e.key] = (reco, s, t)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")

    from espnet_tagspeech.data.atomic import atomic_write, check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import write_rttm, write_seglst
    from espnet_tagspeech.data.kaldi import TableSpec, read_scp, scan_table, write_table
    from espnet_tagspeech.decode.link import RecordingTurns, link_config_from_args, link_recording
    from espnet_tagspeech.serialization import line_to_target, parse

    try:
        if args.config and not Path(args.config).is_file():
            raise DataFormatError(args.config, None, "no such linking config")
        config = link_config_from_args(args)
        if config.link == "model" and not args.train_config:
            raise ValueError("link 'model' needs --train_config (and --model_file)")
        raw: Dict[str, str] = {}
        for d in args.job_dirs:
            f = Path(d) / "text"
            if not f.is_file():
                raise DataFormatError(str(f), None, "no such file (did that decoding job fail?)")
            for key, value in read_scp(f).items():
                if key in raw:
                    raise DataFormatError(str(f), None, f"key {key!r} decoded by two jobs")
                raw[key] = value
        cuts: Dict[str, Tuple[str, float, float]] = {}
        if args.cut2reco:
            cuts = read_cut2reco(args.cut2reco)
            missing = sorted(set(raw) - set(cuts))
            if missing:
                raise DataFormatError(args.cut2reco, None, f"no entry for decoded keys {missing[:5]}")
        num_spk: Dict[str, int] = {}
        if args.reco2num_spk:
            entries = scan_table(args.reco2num_spk, TableSpec("reco2num_spk", 2, 2, "int"))
            num_spk = {e.key: int(e.value) for e in entries}  # type: ignore[call-overload]
        wav = read_scp(args.wav_scp) if args.wav_scp else {}
        if config.link != "none" or args.voices_from:
            absent = sorted({cuts.get(k, (k,))[0] for k in raw} - set(wav))
            if absent:
                raise DataFormatError(args.wav_scp or "--wav_scp", None,
                                      f"recordings to link are missing: {absent[:5]}")
        check_writable(args.out_dir)
    except (DataFormatError, ValueError) as e:
        logger.error("%s", e)
        return 1

    recordings: Dict[str, RecordingTurns] = defaultdict(RecordingTurns)
    warnings: Dict[str, int] = {}
    for key in sorted(raw):
        reco, start, end = cuts.get(key, (key, 0.0, float("inf")))
        res = parse(line_to_target(raw[key]), recording=reco, offset=start)
        warnings[key] = len(res.warnings)
        recordings[reco].add_cut(key, start, end, res, config.rttm_from)

    embed = voice_embed = None
    from espnet_tagspeech.decode.voices import make_embedder

    try:
        if config.link != "none":
            embed = make_embedder(config.link, train_config=args.train_config, model_file=args.model_file)
        if args.voices_from:
            voice_embed = embed if args.voices_from == config.link else make_embedder(
                args.voices_from, train_config=args.train_config, model_file=args.model_file)
    except ValueError as e:
        logger.error("%s", e)
        return 1
    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import AudioReadError, load_audio

    from espnet_tagspeech.decode.link import recording_voices

    diarization, lines, voices = [], [], {}
    for reco in tqdm(sorted(recordings), desc="linking speakers", file=sys.stderr, mininterval=2):
        audio, rate = None, 16000
        if config.link != "none" or voice_embed is not None:
            try:
                audio, rate = load_audio(wav[reco], reco)
            except AudioReadError as e:
                logger.error("%s: %s; nothing written", args.wav_scp, e)
                return 1
            if audio.ndim == 2:
                audio = audio[:, 0]
        d, t = link_recording(recordings[reco], audio, rate, config, embed, num_spk.get(reco))
        diarization += d
        lines += t
        if voice_embed is not None:
            prints = recording_voices(t, audio, rate, voice_embed)
            voices[reco] = {spk: [round(float(x), 6) for x in v] for spk, v in prints.items()}

    out = Path(args.out_dir)
    write_table(out / "text", raw)
    write_table(out / "parse_warnings", warnings)
    write_rttm(out / "rttm", diarization)
    write_seglst(out / "hyp.seglst.json", lines)
    if voice_embed is not None:
        import json

        with atomic_write(out / "voices.json") as f:
            json.dump(voices, f)
    bad = sum(1 for v in warnings.values() if v)
    logger.info("merged %d outputs of %d recordings into %s (%d with parser warnings)",
                len(raw), len(recordings), out, bad)
    with atomic_write(out / "merge.done") as f:
        f.write(f"{len(raw)} outputs\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
