"""Long-form benchmark: whole synthetic meetings of growing length, decoded end to end.

For each ``minutes:speakers`` entry of ``--plan`` one meeting is simulated with
the *test* voice pool (voices unseen in training; ``--split dev``: the dev pool,
also unseen, to choose settings on without looking at test) by
``espnet_tagspeech.bin.simulate_meetings`` (in its own process, not timed), then
decoded whole by :meth:`espnet_tagspeech.decode.speech2tags.Speech2Tags.__call__` in a
fresh process of its own, which reports its decode wall time and its peak
resident memory (``ru_maxrss``: model, audio and decoding).  The parent scores
the answer: DER at collar 0.25 s (dscore semantics, the simulator's UEM) and
cpWER (meeteval).  Prints a markdown table (:data:`HEADERS`), then the cost per
audio minute at 60 min over that at 10 min when both are planned, and the
targets of a 60-minute meeting (peak RSS < 4 GB, RTF <= 0.3, cost ratio <= 1.3,
speaker count within +-1); the same text goes to ``<work_dir>/RESULTS.md``
(all numbers, CPU seconds too, to ``results.json``).

Simulated meetings (``<work_dir>/sim/<tag>``) and decodings
(``<work_dir>/decode/<tag>/result.json``) are reused when their settings are
unchanged, so an interrupted run resumes; ``--redecode`` decodes again.

Examples::

    python bench/bench_long_form.py --model exp/tagspeech_mini/mini_packed.zip
    python bench/bench_long_form.py --train_config conf.yaml --model_file model.pth \\
        --plan 0.3:2 --max_new_tokens 16 --segmenter energy --num_threads 1

``wall s`` counts segmentation, window decoding and speaker linking, not model loading.
"""

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs2" / "mini_meeting" / "tagspeech1"
DEFAULT_MODEL = RECIPE / "exp" / "tagspeech_mini" / "mini_packed.zip"
DEFAULT_CACHE = RECIPE / "downloads" / "mini" / "wordcache"
DEFAULT_PLAN = "1:4,10:4,30:6,60:6"
HEADERS = ("minutes", "speakers", "speakers found", "wall s", "RTF", "s per audio min",
           "peak RSS GB", "DER c=0.25", "cpWER")  # fmt: skip
MAX_RSS_GB, MAX_RTF, MAX_COST_RATIO, SPEAKER_TOLERANCE = 4.0, 0.3, 1.3, 1

logger = logging.getLogger("bench_long_form")


@dataclass(frozen=True)
class PlanEntry:
    """One meeting of the benchmark.

    Attributes:
        minutes: Target length in minutes.
        speakers: Number of speakers.
    """

    minutes: float
    speakers: int

    @property
    def tag(self) -> str:
        """Directory name of the entry, e.g. ``60min_6spk``."""
        return f"{self.minutes:g}min_{self.speakers}spk"


def parse_plan(text: str) -> List[PlanEntry]:
    """Parse ``"1:4,10:4,30:6,60:6"`` (minutes:speakers, comma separated).

    Raises:
        ValueError: an entry that is not ``minutes:speakers`` with positive
            minutes and at least one speaker, or a repeated entry.
    """
    out: List[PlanEntry] = []
    for item in (s.strip() for s in text.split(",")):
        parts = item.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            entry = PlanEntry(float(parts[0]), int(parts[1]))
        except ValueError:
            raise ValueError(f"plan entry {item!r} is not minutes:speakers (e.g. 10:4)") from None
        if not entry.minutes > 0 or entry.speakers < 1:
            raise ValueError(f"plan entry {item!r}: need minutes > 0 and speakers >= 1")
        if entry in out:
            raise ValueError(f"plan entry {item!r} given twice")
        out.append(entry)
    return out


def _plan_arg(text: str) -> List[PlanEntry]:
    """:func:`parse_plan` as an argparse type."""
    try:
        return parse_plan(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help=f"packed model (zip) or its unpacked dir (default: {DEFAULT_MODEL})")
    p.add_argument("--train_config", help="or a training config.yaml ...")
    p.add_argument("--model_file", help="... and its weights (.pth)")
    p.add_argument("--plan", type=_plan_arg, default=parse_plan(DEFAULT_PLAN),
                   help=f"meetings as minutes:speakers, comma separated (default {DEFAULT_PLAN})")
    p.add_argument("--split", choices=("test", "dev"), default="test",
                   help="whose voices speak: the test pool's or the dev pool's (both unseen in training)")
    p.add_argument("--work_dir", default=None,
                   help="simulated meetings, decodings, RESULTS.md (default: exp/bench_long_form, "
                        "exp/bench_long_form_dev with --split dev)")
    p.add_argument("--cache_dir", default=None,
                   help=f"synthesized word clips (default: {DEFAULT_CACHE} if present, "
                        "else WORK_DIR/wordcache)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--sim_nj", type=int, default=2, help="simulator worker processes (word synthesis)")
    p.add_argument("--num_threads", type=int, default=2, help="torch threads of the decoding process")
    p.add_argument("--batch_size", type=int, default=8, help="windows decoded per call")
    p.add_argument("--max_new_tokens", type=int, default=None, help="override the model's decoding limit")
    p.add_argument("--segmenter", choices=("silero", "energy"), default=None, help="override the VAD")
    p.add_argument("--max_window", type=float, default=None, help="override the longest window (s)")
    p.add_argument("--link_config", default=None, help="override the model's speaker linking (a link yaml)")
    p.add_argument("--redecode", action="store_true", help="decode even when a matching result exists")
    p.add_argument("--log_level", default="INFO")
    p.add_argument("--_child", help=argparse.SUPPRESS)  # decode one meeting from this spec file
    return p


def _file_id(path: Optional[str]) -> Optional[List[object]]:
    """``[resolved path, size, mtime]`` of a file (or dir), to tell when a result is stale."""
    if not path:
        return None
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, int(st.st_mtime)]


def simulate(entry: PlanEntry, sim_dir: Path, cache_dir: Path, seed: int, nj: int,
             split: str = "test") -> Dict[str, object]:
    """Simulate the meeting of ``entry`` into ``sim_dir`` unless it is already there.

    Returns:
        ``{"recording", "wav", "sim_s"}`` (simulation seconds).

    Raises:
        RuntimeError: the simulator failed.
    """
    from espnet_tagspeech.data.atomic import atomic_write

    seconds = f"{entry.minutes * 60:g}"
    options = ["--num_meetings", "1", "--seed", str(seed), "--split", split, "--voice_pool", "open",
               "--min_speakers", str(entry.speakers), "--max_speakers", str(entry.speakers),
               "--min_duration", seconds, "--max_duration", seconds]  # fmt: skip
    stamp = sim_dir / "bench_sim.json"
    done = (sim_dir / "meetings.json").is_file() and stamp.is_file()
    if done and json.loads(stamp.read_text())["options"] == options:
        logger.info("%s: reusing the meeting simulated in %s", entry.tag, sim_dir)
        sim_s = json.loads(stamp.read_text())["sim_s"]
    else:
        logger.info("%s: simulating (word clips cached in %s)", entry.tag, cache_dir)
        cmd = [sys.executable, "-m", "espnet_tagspeech.bin.simulate_meetings", "--out_dir", str(sim_dir),
               "--wav_dir", str(sim_dir / "wav"), "--cache_dir", str(cache_dir), "--nj", str(nj), *options]
        t0 = time.perf_counter()
        if subprocess.run(cmd).returncode != 0:
            raise RuntimeError(f"{entry.tag}: the simulator failed: {' '.join(cmd)}")
        sim_s = round(time.perf_counter() - t0, 1)
        with atomic_write(stamp) as f:
            json.dump({"options": options, "sim_s": sim_s}, f)
    meeting = json.loads((sim_dir / "meetings.json").read_text())["meetings"][0]
    rec = meeting["recording"]
    if meeting["speakers"] != entry.speakers:
        logger.warning("%s: the meeting has %d speakers", entry.tag, meeting["speakers"])
    if meeting["duration"] < 0.9 * entry.minutes * 60:
        logger.warning("%s: the meeting is only %.1f s long", entry.tag, meeting["duration"])
    return {"recording": rec, "wav": str(sim_dir / "wav" / f"{rec}.wav"), "sim_s": sim_s}


def decode(sim: Dict[str, object], out_dir: Path, args: argparse.Namespace) -> Dict[str, object]:
    """Decode the simulated meeting in a process of its own (or reuse a matching result).

    Args:
        sim: What :func:`simulate` returned.
        out_dir: Where ``spec.json`` and the child's ``result.json`` go.
        args: The parsed options (model, threads, batch size, overrides).

    Raises:
        RuntimeError: the decoding process failed.
    """
    from espnet_tagspeech.data.atomic import atomic_write

    spec = {"wav": _file_id(str(sim["wav"])), "key": sim["recording"], "model": _file_id(args.model),
            "train_config": _file_id(args.train_config), "model_file": _file_id(args.model_file),
            "num_threads": args.num_threads, "batch_size": args.batch_size,
            "max_new_tokens": args.max_new_tokens, "segmenter": args.segmenter,
            "max_window": args.max_window, "link_config": _file_id(args.link_config)}  # fmt: skip
    result = out_dir / "result.json"
    if result.is_file() and not args.redecode:
        old = json.loads(result.read_text())
        if old.get("spec") == spec:
            logger.info("reusing the decoding in %s", result)
            return old
    out_dir.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)  # a stale result must not pass for this decoding's
    with atomic_write(out_dir / "spec.json") as f:
        json.dump(spec, f, indent=1)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.num_threads)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", str(out_dir / "spec.json"),
           "--log_level", args.log_level]  # fmt: skip
    if subprocess.run(cmd, env=env).returncode != 0 or not result.is_file():
        raise RuntimeError(f"decoding {sim['recording']} failed: {' '.join(cmd)}")
    return json.loads(result.read_text())


def _peak_rss_kb() -> int:
    """Peak resident memory of this process so far, in KiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss  # bytes on macOS, KiB on Linux


def decode_child(spec_path: Path) -> int:
    """Decode one meeting as ``spec.json`` describes; write ``result.json`` beside it."""
    import torch

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import turns_to_seglst
    from espnet_tagspeech.data.kaldi import load_audio
    from espnet_tagspeech.decode.speech2tags import load_speech2tags
    from espnet_tagspeech.segment.config import SegmentConfig

    spec = json.loads(spec_path.read_text())
    torch.set_num_threads(int(spec["num_threads"]))
    path = lambda k: spec[k][0] if spec[k] else None  # noqa: E731
    kwargs = {} if spec["max_new_tokens"] is None else {"max_new_tokens": spec["max_new_tokens"]}
    t0 = time.perf_counter()
    s2t = load_speech2tags(path("model"), path("train_config"), path("model_file"), **kwargs)
    seg = s2t.segment_config.to_dict()
    seg.update({k: spec[k] for k in ("segmenter", "max_window") if spec[k] is not None})
    s2t.segment_config = SegmentConfig.from_dict(seg)
    if spec.get("link_config"):
        from espnet_tagspeech.decode.link import LinkConfig

        s2t.link_config = LinkConfig.from_yaml(path("link_config"))
    load_s = time.perf_counter() - t0
    audio, rate = load_audio(path("wav"), key=spec["key"])
    rss_loaded = _peak_rss_kb()
    cpu = lambda: sum(os.times()[:2])  # noqa: E731 - user + system seconds of this process
    t0, c0 = time.perf_counter(), cpu()
    res = s2t(audio, fs=rate, key=spec["key"], batch_size=int(spec["batch_size"]), progress=True)
    decode_s, cpu_s = time.perf_counter() - t0, cpu() - c0
    out = {"spec": spec, "audio_s": len(audio) / rate, "load_s": round(load_s, 3),
           "decode_s": round(decode_s, 3), "cpu_s": round(cpu_s, 3), "rss_loaded_kb": rss_loaded,
           "peak_rss_kb": _peak_rss_kb(), "warnings": len(res.warnings),
           "lines": turns_to_seglst(res.turns), "speakers": turns_to_seglst(res.speaker_turns)}  # fmt: skip
    with atomic_write(spec_path.parent / "result.json") as f:
        json.dump(out, f)
    logger.info("%s: %.1f s of audio decoded in %.1f s, peak RSS %.2f GB", spec["key"], out["audio_s"],
                decode_s, out["peak_rss_kb"] / 2**20)  # fmt: skip
    return 0


def score(sim_dir: Path, result: Dict[str, object]) -> Dict[str, float]:
    """DER at collar 0.25 s, cpWER (percent) and the speakers of the decoding."""
    from espnet_tagspeech.data.formats import read_rttm, read_seglst, read_uem, seglst_to_turns
    from espnet_tagspeech.scoring.diarization import score_diarization
    from espnet_tagspeech.scoring.wer import score_words

    lines = seglst_to_turns(result["lines"], "lines")
    speakers = seglst_to_turns(result["speakers"], "speakers")
    ref_rttm = read_rttm(sim_dir / "rttm")
    der = score_diarization(ref_rttm, speakers, uem=read_uem(sim_dir / "uem"), collar=0.25)
    words = score_words(read_seglst(sim_dir / "ref.seglst.json"), lines, metrics=("cpwer",))
    return {"der_c025": der.overall.der, "cpwer": words.overall["cpwer"].rate,
            "ref_speakers": len({t.speaker for t in ref_rttm}),
            "speakers_found": len({t.speaker for t in lines + speakers})}  # fmt: skip


def make_row(entry: PlanEntry, sim: Dict[str, object], result: Dict[str, object],
             scores: Dict[str, float]) -> Dict[str, object]:  # fmt: skip
    """The numbers of one table row (and the rest kept in ``results.json``)."""
    audio_s, wall = float(result["audio_s"]), float(result["decode_s"])
    return {"minutes": entry.minutes, "planned_speakers": entry.speakers, "speakers": scores["ref_speakers"],
            "speakers_found": scores["speakers_found"], "wall_s": wall, "rtf": wall / audio_s,
            "s_per_audio_min": wall / (audio_s / 60.0), "peak_rss_gb": result["peak_rss_kb"] / 2**20,
            "rss_loaded_gb": result["rss_loaded_kb"] / 2**20, "der_c025": scores["der_c025"],
            "cpwer": scores["cpwer"], "audio_s": audio_s, "load_s": result["load_s"],
            "cpu_s": result.get("cpu_s"), "sim_s": sim["sim_s"], "recording": sim["recording"],
            "warnings": result["warnings"]}  # fmt: skip


def markdown_table(rows: Sequence[Dict[str, object]]) -> str:
    """The rows as a markdown table with :data:`HEADERS`."""
    cells = [[f"{r['minutes']:g}", str(r["speakers"]), "failed", *["-"] * 6] if r.get("failed") else
             [f"{r['minutes']:g}", str(r["speakers"]), str(r["speakers_found"]), f"{r['wall_s']:.1f}",
              f"{r['rtf']:.3f}", f"{r['s_per_audio_min']:.2f}", f"{r['peak_rss_gb']:.2f}",
              f"{r['der_c025']:.2f}", f"{r['cpwer']:.2f}"] for r in rows]  # fmt: skip
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    line = lambda cs: "| " + " | ".join(c.rjust(w) for c, w in zip(cs, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(HEADERS), rule, *(line(c) for c in cells)])


def cost_ratio(rows: Sequence[Dict[str, object]], long: float = 60.0, short: float = 10.0) -> Optional[float]:
    """Seconds per audio minute of the ``long``-minute meeting over the ``short`` one (first of each)."""
    cost = {}
    for r in rows:
        if not r.get("failed"):
            cost.setdefault(r["minutes"], r["s_per_audio_min"])
    if long not in cost or short not in cost or not cost[short]:
        return None
    return float(cost[long]) / float(cost[short])


def summary_lines(rows: Sequence[Dict[str, object]]) -> List[str]:
    """The cost-ratio line and, with a 60-minute meeting, its targets."""
    ok = lambda b: "ok" if b else "MISSED"  # noqa: E731
    out = []
    ratio = cost_ratio(rows)
    if ratio is not None:
        out.append(f"cost per audio minute, 60 min / 10 min: {ratio:.2f} "
                   f"(target <= {MAX_COST_RATIO}: {ok(ratio <= MAX_COST_RATIO)})")  # fmt: skip
    for r in rows:
        if r["minutes"] == 60.0 and not r.get("failed"):
            found, n = int(r["speakers_found"]), int(r["speakers"])
            out.append(f"60 min, {n} speakers: peak RSS {r['peak_rss_gb']:.2f} GB (< {MAX_RSS_GB:g}: "
                       f"{ok(r['peak_rss_gb'] < MAX_RSS_GB)}), RTF {r['rtf']:.3f} (<= {MAX_RTF}: "
                       f"{ok(r['rtf'] <= MAX_RTF)}), speakers found {found} (+-{SPEAKER_TOLERANCE}: "
                       f"{ok(abs(found - n) <= SPEAKER_TOLERANCE)})")  # fmt: skip
            break
    return out


def write_results(work_dir: Path, rows: Sequence[Dict[str, object]], text: str, header: str) -> None:
    """``RESULTS.md`` (header, table, summary) and ``results.json``, each written atomically."""
    from espnet_tagspeech.data.atomic import atomic_write

    with atomic_write(work_dir / "RESULTS.md") as f:
        f.write(f"# Long-form benchmark\n\n{header}\n\n{text}\n")
    with atomic_write(work_dir / "results.json") as f:
        json.dump(list(rows), f, indent=1)
        f.write("\n")


def _check_model(args: argparse.Namespace) -> Optional[str]:
    """Fill in the default model; an error message when the model options are wrong."""
    if args.train_config or args.model_file:
        if args.model or not (args.train_config and args.model_file):
            return "give --model, or both --train_config and --model_file"
        paths = [args.train_config, args.model_file]
    else:
        args.model = args.model or str(DEFAULT_MODEL)
        paths = [args.model]
    missing = [p for p in [*paths, args.link_config] if p and not Path(p).exists()]
    if missing:
        return f"no such file: {', '.join(missing)}"
    if args.link_config:
        from espnet_tagspeech.decode.link import LinkConfig

        try:
            LinkConfig.from_yaml(args.link_config)
        except ValueError as e:  # a bad key or value: named before anything is decoded
            return str(e)
    return None


def run(args: argparse.Namespace) -> int:
    """Simulate, decode and score every plan entry; print and write the table."""
    work = Path(args.work_dir or ("exp/bench_long_form" + ("_dev" if args.split == "dev" else "")))
    work.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir or (DEFAULT_CACHE if DEFAULT_CACHE.is_dir() else work / "wordcache"))
    rows: List[Dict[str, object]] = []
    for entry in args.plan:
        sim_dir = work / "sim" / entry.tag
        try:
            sim = simulate(entry, sim_dir, cache, args.seed, args.sim_nj, args.split)
            result = decode(sim, work / "decode" / entry.tag, args)
        except RuntimeError as e:  # e.g. killed for want of memory: the other lengths still count
            logger.error("%s", e)
            rows.append({"minutes": entry.minutes, "speakers": entry.speakers, "failed": str(e)})
            continue
        rows.append(make_row(entry, sim, result, score(sim_dir, result)))
        logger.info("%s: RTF %.3f, peak RSS %.2f GB", entry.tag, rows[-1]["rtf"], rows[-1]["peak_rss_gb"])
    text = "\n".join([markdown_table(rows), "", *summary_lines(rows)]).rstrip()
    model = args.model or f"{args.train_config} + {args.model_file}"
    header = (f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n- model: `{model}`\n"
              f"- decoding: {args.num_threads} torch thread(s), batch size {args.batch_size}, "
              f"{os.cpu_count()} CPU(s) on the machine\n- meetings: simulator seed {args.seed}, "
              f"{args.split} voice pool; wall s excludes simulation and model loading; "
              "DER/cpWER in percent")  # fmt: skip
    print(text)
    write_results(work, rows, text, header)
    logger.info("wrote %s", work / "RESULTS.md")
    return 1 if any(r.get("failed") for r in rows) else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    if args._child:
        return decode_child(Path(args._child))
    if not (args.model or args.train_config or args.model_file or DEFAULT_MODEL.exists()):
        print(f"bench_long_form: no --model and no {DEFAULT_MODEL} (run the mini_meeting recipe): "
              "nothing to benchmark", file=sys.stderr)  # fmt: skip
        return 0  # as `make bench` runs every script without options
    error = _check_model(args)
    if error:
        print(f"bench_long_form: {error}", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
