"""Merge per-job decoding outputs into recording-level RTTM and SegLST.

Usage::

    python -m espnet_tagspeech.bin.merge_decodes --out_dir DIR \\
        --cut2reco dump/raw/test_cuts/cut2reco --wav_scp dump/raw/test/wav.scp \\
        DIR/logdir/output.1 DIR/logdir/output.2 ...

Each job dir holds ``text``: one raw model output per cut (newlines escaped).
Each output is parsed (never raising; warnings are counted and written to
``parse_warnings``), moved to recording time with ``cut2reco`` (``cut reco
start end``), clipped to its cut, and the cut-local speakers of each recording
are linked into recording-level speakers (:mod:`espnet_tagspeech.linking`)
unless ``--link none``.  ``--link_unit line`` clusters every transcribed line
on its own voice instead, ignoring the model's speaker ids (the RTTM is then
the lines).  Writes ``text``, ``rttm``, ``hyp.seglst.json`` and
``parse_warnings`` into ``--out_dir``.
"""

import argparse
import logging
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

logger = logging.getLogger("merge_decodes")


def _clip(turns, lo: float, hi: float):
    out = []
    for t in turns:
        s, e = max(t.start, lo), min(t.end, hi)
        if e - s > 1e-3:
            out.append(replace(t, start=s, end=e))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job_dirs", nargs="+", help="per-job output dirs holding 'text'")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--cut2reco", help="cut -> 'reco start end' (else keys are recordings)")
    p.add_argument("--wav_scp", help="recording wav.scp (needed for linking)")
    p.add_argument("--link", choices=["fbank", "model", "none"], default="fbank",
                   help="how cut-local speakers are linked across cuts: log-mel statistics, "
                        "the model's speaker stream (needs --train_config/--model_file), or not")
    p.add_argument("--train_config", help="model config.yaml (--link model)")
    p.add_argument("--model_file", help="model weights (--link model)")
    p.add_argument("--linking_threshold", type=float, default=0.3)
    p.add_argument("--rttm_from", choices=["block", "lines"], default="block",
                   help="diarization from the speaker block's ranges (the paper) or from the "
                        "text lines' ranges with the block's speaker of each line")
    p.add_argument("--link_unit", choices=["speaker", "line"], default="speaker",
                   help="cluster the model's cut-local speakers (its speaker block decides who "
                        "spoke each line) or every text line by its own voice (needs "
                        "--rttm_from lines and --link fbank|model)")
    p.add_argument("--max_line_overlap", type=float, default=0.3,
                   help="--link_unit line: lines overlapping by more seconds never share a speaker")
    p.add_argument("--min_speaker_sec", type=float, default=0.0,
                   help="--link_unit line: speakers with less speech join their closest speaker")
    p.add_argument("--voice_trim", type=float, default=0.0,
                   help="--link_unit line: seconds left out at both ends of a line for its voice print")
    p.add_argument("--max_line_overlap_frac", type=float, default=None,
                   help="--link_unit line: lines overlapping by more than this fraction of the "
                        "shorter one never share a speaker")
    p.add_argument("--min_line_sec", type=float, default=0.0,
                   help="--link_unit line: shorter lines are not clustered but join the closest "
                        "speaker they may join afterwards")
    p.add_argument("--reco2num_spk", help="known speaker count per recording (oracle linking)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")
    if args.link_unit == "line" and (args.rttm_from != "lines" or args.link == "none"):
        logger.error("--link_unit line needs --rttm_from lines and --link fbank or model")
        return 1

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.data.formats import write_rttm, write_seglst
    from espnet_tagspeech.data.kaldi import read_scp, write_table
    from espnet_tagspeech.serialization import line_to_target, parse

    try:
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
            for key, value in read_scp(args.cut2reco).items():
                reco, s, e = value.split()
                cuts[key] = (reco, float(s), float(e))
            missing = sorted(set(raw) - set(cuts))
            if missing:
                raise DataFormatError(args.cut2reco, None, f"no entry for decoded keys {missing[:5]}")
        num_spk = {k: int(v) for k, v in read_scp(args.reco2num_spk).items()} if args.reco2num_spk else {}
        wav = read_scp(args.wav_scp) if args.wav_scp else {}
    except (DataFormatError, ValueError) as e:
        logger.error("%s", e)
        return 1

    spk_turns, txt_turns, cut_of = defaultdict(list), defaultdict(list), {}
    warnings: Dict[str, int] = {}
    for key in sorted(raw):
        reco, start, end = cuts.get(key, (key, 0.0, float("inf")))
        res = parse(line_to_target(raw[key]), recording=reco, offset=start)
        warnings[key] = len(res.warnings)
        for t in res.speaker_turns + res.turns:
            cut_of[f"{key}|{t.speaker}"] = key
        diar = res.diarization(args.rttm_from)
        spk_turns[reco] += _clip([t.with_speaker(f"{key}|{t.speaker}") for t in diar], start, end)
        txt_turns[reco] += _clip([t.with_speaker(f"{key}|{t.speaker}") for t in res.turns], start, end)

    if args.link != "none":
        from tqdm import tqdm

        from espnet_tagspeech.data.kaldi import load_audio
        from espnet_tagspeech.linking import SpeakerStreamEmbedder, fbank_embedding, link_lines, link_speakers

        embed = fbank_embedding
        if args.link == "model":
            if not args.train_config:
                logger.error("--link model needs --train_config (and --model_file)")
                return 1
            embed = SpeakerStreamEmbedder(args.train_config, args.model_file)
        for reco in tqdm(sorted(spk_turns), desc="linking speakers", file=sys.stderr, mininterval=2):
            if reco not in wav:
                logger.error("recording %s not in --wav_scp; cannot link its speakers", reco)
                return 1
            audio, rate = load_audio(wav[reco], reco)
            if audio.ndim == 2:
                audio = audio[:, 0]
            if args.link_unit == "line":
                txt_turns[reco] = link_lines(
                    txt_turns[reco], audio, rate, embed, args.linking_threshold,
                    num_spk.get(reco), args.max_line_overlap, args.min_speaker_sec, args.voice_trim,
                    args.max_line_overlap_frac, args.min_line_sec,
                )
                spk_turns[reco] = [replace(t, words=()) for t in txt_turns[reco]]
                continue
            spk_turns[reco], txt_turns[reco] = link_speakers(
                spk_turns[reco], txt_turns[reco], cut_of, audio, rate, embed,
                args.linking_threshold, num_spk.get(reco),
            )

    out = Path(args.out_dir)
    write_table(out / "text", raw)
    write_table(out / "parse_warnings", warnings)
    write_rttm(out / "rttm", [t for v in spk_turns.values() for t in v])
    write_seglst(out / "hyp.seglst.json", [t for v in txt_turns.values() for t in v])
    bad = sum(1 for v in warnings.values() if v)
    logger.info("merged %d outputs of %d recordings into %s (%d with parser warnings)",
                len(raw), len(spk_turns), out, bad)
    with atomic_write(out / "merge.done") as f:
        f.write(f"{len(raw)} outputs\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
