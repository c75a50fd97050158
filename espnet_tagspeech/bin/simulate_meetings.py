"""Generate a synthetic meeting corpus with espeak-ng voices.

Example::

    python -m espnet_tagspeech.bin.simulate_meetings --out_dir data/train \\
        --wav_dir sim/train --cache_dir sim/wordcache --num_meetings 100 \\
        --seed 1 --split train --nj 2

writes ``<wav_dir>/<recording>.wav`` (16 kHz mono int16) and a Kaldi data dir
in ``out_dir`` (see :mod:`espnet_tagspeech.simulate.writer`) plus
``meetings.json`` (per-meeting statistics).  Output is byte-identical for the
same options and seed, whatever ``--nj``.  Speakers come from ``--voice_pool``
(default ``open``: train, dev and test voices made of different espeak-ng
variants, see :mod:`espnet_tagspeech.simulate.voices`).
"""

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_tagspeech.data.atomic import atomic_write

_STATE: Dict[str, object] = {}
VOICE_POOLS = ("open", "warped", "closed", "closed_disjoint")  # as espnet_tagspeech.simulate.voices.POOLS


def get_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_dir", required=True, help="Kaldi data dir to write")
    p.add_argument("--wav_dir", default=None, help="where the wavs go (default: OUT_DIR/wav)")
    p.add_argument("--cache_dir", default=None,
                   help="cache of synthesized words shared by runs (default: a temporary dir)")
    p.add_argument("--num_meetings", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=("train", "dev", "test"), default="train")
    p.add_argument("--min_speakers", type=int, default=1)
    p.add_argument("--max_speakers", type=int, default=4,
                   help="at most the size of the split's voice pool (open: 16 for dev and test)")
    p.add_argument("--min_duration", type=float, default=30.0)
    p.add_argument("--max_duration", type=float, default=120.0)
    p.add_argument("--overlap_ratio", type=float, default=0.2,
                   help="target share of speech time with >= 2 speakers")
    p.add_argument("--overlap_prob", type=float, default=0.5,
                   help="chance a turn overlaps the previous one while overlap is below target")
    p.add_argument("--backchannel_prob", type=float, default=0.5)
    p.add_argument("--max_sentences", type=int, default=2, help="most sentences per turn")
    p.add_argument("--noise_snr", type=float, default=None, help="add noise at this SNR (dB)")
    p.add_argument("--reverb", action="store_true", help="synthetic room impulse responses")
    p.add_argument("--vocab_scale", type=float, default=1.0,
                   help="fraction of each grammar word class to use (smaller vocabulary)")
    p.add_argument("--voice_pool", choices=VOICE_POOLS, default="open",
                   help="open: 108 / 16 / 16 voices whose espeak-ng variants differ between "
                        "train, dev and test; warped: open with 216 more training voices whose "
                        "formants are warped (324 / 16 / 16); closed: the 16 original voices in every split; "
                        "closed_disjoint: those 16 split 8 / 4 / 4")
    p.add_argument("--synth_engine", choices=("auto", "library", "command"), default="auto",
                   help="espeak-ng through libespeak-ng (fast) or one espeak-ng process per word; "
                        "auto: the library if found")
    p.add_argument("--nj", type=int, default=2, help="worker processes")
    p.add_argument("--log_level", default="INFO")
    return p


def recording_id(split: str, seed: int, index: int) -> str:
    """The recording id of meeting ``index``."""
    return f"{split}_s{seed}_{index:04d}"


def _init_worker(state: Dict[str, object]) -> None:
    from espnet_tagspeech.simulate.voices import WordBank

    _STATE.clear()
    _STATE.update(state)
    _STATE["bank"] = WordBank(Path(str(state["cache_dir"])), engine=str(state["engine"]))


def _synth_voice(task: Tuple[object, List[str]]) -> int:
    voice, words = task
    return _STATE["bank"].ensure(voice, words)  # type: ignore[attr-defined]


def _make_meeting(plan) -> Tuple[str, list, float]:
    from espnet_tagspeech.simulate.meeting import layout_meeting, render_meeting
    from espnet_tagspeech.simulate.writer import write_wav
    from espnet_tagspeech.simulate.voices import SAMPLE_RATE

    cfg, bank, seed, split = _STATE["config"], _STATE["bank"], _STATE["seed"], _STATE["split"]
    layout = layout_meeting(plan, cfg, bank, seed, split)
    audio = render_meeting(layout, cfg, bank, seed, split)
    write_wav(Path(str(_STATE["wav_dir"])) / f"{plan.recording}.wav", audio)
    return plan.recording, layout.to_turns(), len(audio) / SAMPLE_RATE


def _run(jobs, func, tasks: Sequence, nj: int, state: Dict[str, object], desc: str) -> List:
    from tqdm import tqdm

    if nj <= 1 or len(tasks) <= 1:
        _init_worker(state)
        return [func(t) for t in tqdm(tasks, desc=desc, unit=jobs)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(nj, len(tasks)), initializer=_init_worker, initargs=(state,)) as pool:
        return list(tqdm(pool.imap(func, tasks), total=len(tasks), desc=desc, unit=jobs))


def build_config(args: argparse.Namespace):
    """The :class:`MeetingConfig` of parsed ``args``.

    Raises:
        ValueError: naming the first inconsistent option.
    """
    from espnet_tagspeech.simulate.meeting import MeetingConfig
    from espnet_tagspeech.simulate.voices import voice_pool

    config = MeetingConfig(
        min_speakers=args.min_speakers, max_speakers=args.max_speakers,
        min_duration=args.min_duration, max_duration=args.max_duration,
        overlap_ratio=args.overlap_ratio, overlap_prob=args.overlap_prob,
        backchannel_prob=args.backchannel_prob,
        max_sentences=args.max_sentences, noise_snr=args.noise_snr, reverb=args.reverb,
        vocab_scale=args.vocab_scale, disjoint_voices=args.voice_pool != "closed",
    )  # fmt: skip
    config.check(len(voice_pool(args.split, args.voice_pool)))
    if args.num_meetings < 1:
        raise ValueError(f"--num_meetings must be >= 1, got {args.num_meetings}")
    if args.nj < 1:
        raise ValueError(f"--nj must be >= 1, got {args.nj}")
    return config


def simulate(args: argparse.Namespace) -> Dict[str, object]:
    """Generate the corpus described by parsed ``args``; return summary statistics."""
    from espnet_tagspeech.simulate.grammar import Grammar
    from espnet_tagspeech.simulate.meeting import overlap_stats, plan_meeting
    from espnet_tagspeech.simulate.voices import check_espeak, voice_pool
    from espnet_tagspeech.simulate.writer import write_data_dir

    logging.info("espeak-ng engine %s", check_espeak(args.synth_engine))
    config = build_config(args)
    pool = voice_pool(args.split, args.voice_pool)
    grammar = Grammar(args.vocab_scale)
    out_dir = Path(args.out_dir)
    wav_dir = Path(args.wav_dir) if args.wav_dir else out_dir / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    plans = [plan_meeting(args.seed, args.split, i, recording_id(args.split, args.seed, i),
                          config, grammar, pool) for i in range(args.num_meetings)]  # fmt: skip
    need: Dict[object, set] = {}
    for plan in plans:
        for voice, words in plan.words_of().items():
            need.setdefault(voice, set()).update(words)
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tmp)
        cache_dir.mkdir(parents=True, exist_ok=True)
        state = {"config": config, "seed": args.seed, "split": args.split,
                 "cache_dir": str(cache_dir), "wav_dir": str(wav_dir),
                 "engine": args.synth_engine}  # fmt: skip
        tasks = [(v, sorted(need[v])) for v in sorted(need, key=lambda v: v.name)]
        done = _run("voice", _synth_voice, tasks, args.nj, state, "synthesizing words")
        logging.info("synthesized %d new (voice, word) clips in %.1f s", sum(done), time.time() - t0)
        results = _run("meeting", _make_meeting, plans, args.nj, state, "mixing meetings")
    turns = [t for _, ts, _ in results for t in ts]
    durations = {reco: dur for reco, _, dur in results}
    wav_paths = {reco: str(wav_dir / f"{reco}.wav") for reco in durations}
    write_data_dir(out_dir, turns, wav_paths, durations)
    per_meeting = []
    for reco, ts, dur in results:
        speech, overlap = overlap_stats([(t.start, t.end) for t in ts])
        per_meeting.append({"recording": reco, "duration": round(dur, 3),
                            "speakers": len({t.speaker for t in ts}), "turns": len(ts),
                            "words": sum(len(t.words) for t in ts),
                            "speech": round(speech, 3), "overlap": round(overlap, 3)})  # fmt: skip
    total_speech = sum(m["speech"] for m in per_meeting)
    summary = {
        "split": args.split, "seed": args.seed, "voice_pool": args.voice_pool,
        "meetings": len(per_meeting),
        "hours": round(sum(durations.values()) / 3600, 4),
        "speakers": len({t.speaker for t in turns}),
        "overlap_ratio": round(sum(m["overlap"] for m in per_meeting) / max(total_speech, 1e-9), 4),
        "vocabulary": len({w.text for t in turns for w in t.words}),
        "grammar_vocabulary": len(grammar.vocabulary()),
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    with atomic_write(out_dir / "meetings.json") as f:
        json.dump({"summary": {k: v for k, v in summary.items() if k != "seconds"},
                   "meetings": per_meeting}, f, indent=1)  # fmt: skip
        f.write("\n")
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.simulate.voices import EspeakNotFoundError

    try:
        build_config(args)
    except ValueError as e:
        print(f"simulate_meetings: error: {e}", file=sys.stderr)
        return 2
    try:
        for d in (args.out_dir, args.wav_dir, args.cache_dir):
            if d:
                check_writable(d)
    except DataFormatError as e:
        print(f"simulate_meetings: error: {e}", file=sys.stderr)
        return 1
    try:
        summary = simulate(args)
    except EspeakNotFoundError as e:
        print(f"simulate_meetings: error: {e}", file=sys.stderr)
        return 2
    logging.info("wrote %s: %s", args.out_dir, json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
