"""The paper's ablations on the mini data: what each part of TagSpeech does to DER and cpWER.

Every variant trains stage 7 from the same stage-5 encoders, on the same data and
for the same number of updates, and is decoded and scored by stages 8-9 the way
the recipe decodes (the LLM writes the whole answer, ``conf/decode_mini.yaml``):

- ``paper``: the mini configuration (encoders frozen, projectors + LLM trained);
- ``no_anchors``: no time anchors in either stream (nor the frame clock);
- ``no_speaker``: no speaker stream in the prompt;
- ``lora``: the LLM frozen with LoRA adapters (the paper's production setting; here
  the LLM is random-init, so this measures how much a frozen LLM can be steered);
- ``all_trained``: the encoders trained too (no dumped streams: each update runs
  and trains both encoders, about 1.7x the time, so it gets ``--all_trained_updates``,
  about the same wall clock).

Run from the repository root after ``make demo`` (it needs the recipe's data,
stage-5 init and stage-6 streams)::

    python bench/bench_ablations.py [--updates 600] [--variants paper no_anchors ...]

Each variant lands in ``exp/ablate_<variant>`` of the recipe; a finished variant
is not run again.  The table is printed and written to
``exp/ablations/RESULTS.md``.  Not part of CI (about 5 minutes per variant).
"""

import argparse
import copy
import logging
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs2" / "mini_meeting" / "tagspeech1"
SYSTEM = "TagSpeech (LLM)"
VARIANTS: Dict[str, Dict] = {
    "paper": {},
    "no_anchors": {"model_conf": {"time_anchors": False, "frame_clock": False}},
    "no_speaker": {"model_conf": {"speaker_stream": False, "speaker_on_words": False}},
    "lora": {"llm_conf": {"freeze": True, "lora": {"r": 16, "alpha": 32, "dropout": 0.0}}},
    "all_trained": {"semantic_encoder_conf": {"freeze": False}, "speaker_encoder_conf": {"freeze": False}},
}
COLUMNS = ["DER c=0.25", "cpWER", "WER", "ovl WER", "spk-count acc"]

logger = logging.getLogger("bench_ablations")


def _merge(base: Dict, over: Dict) -> Dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def variant_config(base: Dict, variant: str, updates: int, iters_per_epoch: int = 100) -> Dict:
    """The training config of ``variant``: ``base`` with its changes, ``updates`` updates.

    Raises:
        ValueError: an unknown variant, or ``updates`` not a multiple of ``iters_per_epoch``
            when larger than it.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    conf = _merge(base, VARIANTS[variant])
    per = min(updates, iters_per_epoch)
    if updates % per:
        raise ValueError(f"updates {updates} is not a multiple of {per}")
    conf["num_iters_per_epoch"], conf["max_epoch"] = per, updates // per
    return conf


def result_row(results_md: Path, dataset: str = "test", system: str = SYSTEM) -> Optional[Dict[str, str]]:
    """The cells of ``dataset``'s ``system`` row of a RESULTS.md (``None``: no such row)."""
    if not results_md.is_file():
        return None
    header = None
    for line in results_md.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["dataset", "system"]:
            header = cells
        elif header and cells[:2] == [dataset, system]:
            return dict(zip(header, cells))
    return None


def last_valid_acc(train_log: Path) -> Optional[float]:
    """The valid answer-token accuracy of the last epoch ESPnet's Trainer logged."""
    if not train_log.is_file():
        return None
    accs = re.findall(r"\[valid\][^\[]*?\bacc=([0-9.]+)", train_log.read_text(errors="replace"))
    return float(accs[-1]) if accs else None


def format_table(rows: List[Dict]) -> str:
    """A markdown table of the variants' rows."""
    head = ["variant", "updates", "train min", "valid acc", *COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        acc = "-" if r["valid_acc"] is None else f"{r['valid_acc']:.3f}"
        lines.append("| " + " | ".join([r["variant"], str(r["updates"]), f"{r['train_min']:.1f}", acc,
                                        *(r["scores"].get(c, "-") for c in COLUMNS)]) + " |")
    return "\n".join(lines)


def _run(recipe: Path, args: List[str], log: Path) -> float:
    t = time.time()
    with open(log, "a", encoding="utf-8") as f:
        proc = subprocess.run(["./run.sh", *args], cwd=recipe, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"run.sh {' '.join(args)} failed; see {log}")
    return time.time() - t


def run_variant(recipe: Path, variant: str, updates: int, out: Path) -> Dict:
    """Train, decode and score one variant (skipped when its RESULTS.md row exists)."""
    import yaml

    name = f"ablate_{variant}"
    exp = recipe / "exp" / name
    timing = out / f"{variant}.train_sec"
    if result_row(exp / "RESULTS.md") is None:
        base = yaml.safe_load((recipe / "conf" / "train_tagspeech_mini.yaml").read_text(encoding="utf-8"))
        cfg = out / f"{variant}.yaml"
        cfg.write_text(yaml.safe_dump(variant_config(base, variant, updates)), encoding="utf-8")
        common = ["--systems", "llm", "--exp_name", name, "--train_config", str(cfg.resolve())]
        if variant == "all_trained":
            common += ["--stream_cache", "false"]
        logger.info("%s: stage 7 (%d updates) -> %s", variant, updates, exp)
        sec = _run(recipe, ["--stage", "7", "--stop_stage", "7", *common], out / f"{variant}.log")
        timing.write_text(f"{sec:.1f}\n")
        logger.info("%s: stages 8-9", variant)
        _run(recipe, ["--stage", "8", "--stop_stage", "9", *common], out / f"{variant}.log")
    scores = result_row(exp / "RESULTS.md") or {}
    return {"variant": variant, "updates": updates, "scores": scores,
            "train_min": float(timing.read_text()) / 60 if timing.is_file() else float("nan"),
            "valid_acc": last_valid_acc(exp / "train.log")}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", type=Path, default=RECIPE)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--updates", type=int, default=600, help="stage-7 updates of every variant")
    p.add_argument("--all_trained_updates", type=int, default=300,
                   help="updates of all_trained (each runs and trains both encoders: ~1.7x slower)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(name)s) %(levelname)s: %(message)s")
    recipe = args.recipe.resolve()
    missing = [x for x in ("exp/pretrain_mini/init.pth", "exp/tagspeech_stats_mini/train/speech_shape",
                           "dump/mini/streams_mini/train") if not (recipe / x).exists()]
    if missing:
        logger.warning("nothing to benchmark: %s lacks %s (run `make demo` first)", recipe, ", ".join(missing))
        return 0
    out = recipe / "exp" / "ablations"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for v in args.variants:
            n = args.all_trained_updates if v == "all_trained" else args.updates
            rows.append(run_variant(recipe, v, n, out))
    except (RuntimeError, ValueError) as e:
        logger.error("%s", e)
        return 1
    from espnet_tagspeech.data.atomic import atomic_write

    table = format_table(rows)
    with atomic_write(out / "RESULTS.md") as f:
        f.write("# Ablations on the mini test set (TagSpeech (LLM) decoding, VAD cuts)\n\n" + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
