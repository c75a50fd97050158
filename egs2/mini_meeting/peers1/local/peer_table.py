#!/usr/bin/env python3
"""One table: TagSpeech's rows (the mini recipe's RESULTS.md) and the ESPnet peers'.

Reads, all optional (a missing part leaves ``-`` and a note):

* ours: ``<tagspeech_dir>/exp/tagspeech_<size>/RESULTS.md`` (rows ``TagSpeech (LLM)``
  and ``cascade (CTC + clustering)`` of the test set); training wall clock = the
  elapsed times logged by stages 5 (``exp/pretrain_<size>/pretrain.log``), 6
  (``exp/tagspeech_stats_<size>/stats.log``, ``dump/<size>/streams_<size>/*/dump.log``)
  and 7 (``exp/tagspeech_<size>/train.log``); updates = pre-training steps (the config
  stage 5's log names) + stage 7's; parameters from stage 7's model summary.
* the peers: ``<exp_dir>/{eend,sot}/``: ``budget.json`` (wall clock), ``train.log``
  (epochs, updates, parameters), ``decode_test/der_c{0,0.25}.json`` (EEND) and
  ``decode_test/{words,oracle_words}.json`` (SOT).

Prints the markdown and writes it to ``--out`` with each peer's learning curve.

Example::

    python local/peer_table.py --tagspeech_dir ../tagspeech1 --exp_dir exp --out exp/RESULTS.md
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

logger = logging.getLogger("peer_table")

OURS = ("TagSpeech (LLM)", "cascade (CTC + clustering)")
COLUMNS = ("system", "answers", "DER c=0", "DER c=0.25", "JER", "cpWER", "WER",
           "training (min)", "updates", "parameters")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tagspeech_dir", default="../tagspeech1", help="the mini recipe dir")
    p.add_argument("--size", default="mini", help="its --size")
    p.add_argument("--exp_dir", default="exp", help="this recipe's exp dir")
    p.add_argument("--budget_min", type=float, default=None, help="the peers' budget (for the header)")
    p.add_argument("--out", default="", help="also write the markdown here")
    return p


def _read(path: Path) -> Optional[str]:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _json(path: Path) -> Optional[dict]:
    text = _read(path)
    return json.loads(text) if text else None


def _num(x: Optional[float], digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _params(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def _updates(log_text: Optional[str], config: Optional[dict]) -> Optional[int]:
    """Optimizer updates of an ESPnet run: the last epoch's cumulative train count /
    accum_grad."""
    from peerlib import parse_epoch_results

    if not log_text:
        return None
    epochs = parse_epoch_results(log_text)
    if not epochs or "total_count" not in epochs[-1]["train"]:
        return None
    accum = int((config or {}).get("accum_grad", 1) or 1)
    return int(epochs[-1]["train"]["total_count"]) // accum


def ours(tagspeech_dir: Path, size: str, notes: List[str]) -> List[Dict[str, str]]:
    """Our two rows."""
    import yaml

    from espnet_tagspeech.data.errors import DataFormatError
    from peerlib import log_elapsed, logged_option, parse_num_params, parse_results_table

    exp = tagspeech_dir / "exp" / f"tagspeech_{size}"
    text = _read(exp / "RESULTS.md")
    if text is None:
        notes.append(f"no {exp / 'RESULTS.md'}: our rows are empty (run the mini recipe)")
        return []
    try:
        table = parse_results_table(text, "test", str(exp / "RESULTS.md"))
    except DataFormatError as e:
        notes.append(str(e))
        return []
    logs = [tagspeech_dir / "exp" / f"pretrain_{size}" / "pretrain.log",
            tagspeech_dir / "exp" / f"tagspeech_stats_{size}" / "stats.log",
            *sorted((tagspeech_dir / "dump" / size / f"streams_{size}").glob("*/dump.log")),
            exp / "train.log"]
    times = [log_elapsed(_read(p) or "") for p in logs]
    minutes = sum(t for t in times if t is not None) / 60 if any(t is not None for t in times) else None
    if any(t is None for t in times):
        notes.append("our training time lacks " + ", ".join(str(p) for p, t in zip(logs, times) if t is None))
    train_log = _read(exp / "train.log")
    config = yaml.safe_load(_read(exp / "config.yaml") or "{}")
    updates = _updates(train_log, config)
    # the pre-training config stage 5 ran with, as its log's command line names it
    pre_log = _read(logs[0]) or ""
    pre_conf = logged_option(pre_log, "config")
    pre = yaml.safe_load(_read(tagspeech_dir / pre_conf) or "{}") or {} if pre_conf else {}
    if not pre:
        notes.append(f"our pre-training steps unknown: no config named by {logs[0]}")
    pre_steps = sum(int((pre.get(k) or {}).get("steps", 0)) for k in ("semantic", "speaker"))
    updates_cell = "-" if updates is None else f"{updates + pre_steps} ({pre_steps} + {updates})"
    rows = []
    for system in OURS:
        r = table.get(system)
        if r is None:
            notes.append(f"{exp / 'RESULTS.md'}: no test row '{system}'")
            continue
        rows.append({
            "system": system,
            "answers": "who / what / when" if system == OURS[0] else "who / what / when (baseline: CTC lines, voice clustering)",
            "DER c=0": r.get("DER c=0", "-"), "DER c=0.25": r.get("DER c=0.25", "-"),
            "JER": r.get("JER", "-"), "cpWER": r.get("cpWER", "-"), "WER": r.get("WER", "-"),
            "training (min)": _num(minutes), "updates": updates_cell,
            "parameters": _params(parse_num_params(train_log or "")),
        })
    return rows


def peer_training(exp: Path) -> Dict[str, str]:
    """Training columns of a peer's experiment dir."""
    import yaml

    from peerlib import parse_num_params

    ledger = _json(exp / "budget.json") or {}
    log = _read(exp / "train.log")
    config = yaml.safe_load(_read(exp / "config.yaml") or "{}")
    spent = ledger.get("spent_s")
    return {
        "training (min)": _num(None if spent is None else float(spent) / 60),
        "updates": "-" if _updates(log, config) is None else str(_updates(log, config)),
        "parameters": _params(parse_num_params(log or "")),
    }


def eend_row(exp: Path, notes: List[str]) -> Dict[str, str]:
    """The SA-EEND row."""
    row = {"system": "ESPnet SA-EEND", "answers": "who / when (no words)",
           "cpWER": "-", "WER": "-", **peer_training(exp)}
    for c, col in (("0", "DER c=0"), ("0.25", "DER c=0.25")):
        data = _json(exp / "decode_test" / f"der_c{c}.json")
        if data is None:
            notes.append(f"no {exp / 'decode_test' / f'der_c{c}.json'} (run stages 3, 4, 7)")
        row[col] = _num(data["overall"]["der"], 2) if data else "-"
        if c == "0":
            row["JER"] = _num(data["overall"]["jer"], 2) if data else "-"
    return row


def sot_rows(exp: Path, notes: List[str]) -> List[Dict[str, str]]:
    """The SOT ASR row and the perfect-words row of the same convention."""
    import yaml

    config = yaml.safe_load(_read(exp / "config.yaml") or "{}") or {}
    ctc_weight = float((config.get("model_conf") or {}).get("ctc_weight", 1.0))
    kind = "CTC" if ctc_weight >= 1.0 else "attention" if ctc_weight <= 0.0 else f"CTC {ctc_weight:g} + attention"
    rows = []
    for name, label, answers, training in (
        ("words.json", f"ESPnet SOT ASR ({kind})", "what per window; no speaker ids (a pseudo-speaker per <sc> segment)", True),
        ("oracle_words.json", "(reference words, SOT convention)", "the reference's words, scored as the SOT ASR", False),
    ):
        data = _json(exp / "decode_test" / name)
        if data is None:
            notes.append(f"no {exp / 'decode_test' / name} (run stages 5, 6, 7)")
            if training:
                rows.append({"system": label, "answers": answers, **peer_training(exp)})
            continue
        row = {"system": label, "answers": answers, "DER c=0": "-", "DER c=0.25": "-", "JER": "-",
               "cpWER": _num(data["overall"]["cpwer"]["wer"], 2), "WER": _num(data["overall"]["wer"]["wer"], 2)}
        if training:
            row.update(peer_training(exp))
        rows.append(row)
    return rows


def curve(exp: Path, metrics: Sequence[str]) -> str:
    """A peer's learning curve (valid loss and metrics per epoch) as markdown."""
    import yaml

    from peerlib import parse_epoch_results

    log = _read(exp / "train.log")
    if not log:
        return f"(no {exp / 'train.log'})\n"
    epochs = parse_epoch_results(log)
    if not epochs:
        return f"(no finished epoch in {exp / 'train.log'})\n"
    ledger = _json(exp / "budget.json") or {}
    saved = ledger.get("saved_at_s", {})
    accum = int((yaml.safe_load(_read(exp / "config.yaml") or "{}") or {}).get("accum_grad", 1) or 1)
    head = ["epoch", "updates", "min", "train loss", "valid loss", *[f"valid {m}" for m in metrics]]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("--:" for _ in head) + "|"]
    for e in epochs:
        tr, va = e["train"], e["valid"]
        cells = [str(e["epoch"]),
                 str(int(tr["total_count"]) // accum) if "total_count" in tr else "-",
                 _num(saved[str(e["epoch"])] / 60) if str(e["epoch"]) in saved else "-",
                 _num(tr.get("loss"), 3), _num(va.get("loss"), 3),
                 *[_num(va.get(m), 3) for m in metrics]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    """Print (and write) the table; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from espnet_tagspeech.data.atomic import atomic_write

    notes: List[str] = []
    exp = Path(args.exp_dir)
    rows = ours(Path(args.tagspeech_dir), args.size, notes)
    rows.append(eend_row(exp / "eend", notes))
    rows.extend(sot_rows(exp / "sot", notes))
    budget = "" if args.budget_min is None else f" (budget {args.budget_min:g} min each)"
    out = [
        f"# TagSpeech and ESPnet peers on mini_meeting{budget}",
        "",
        "Test set: 40 meetings of 16 unseen voices. DER / JER (dscore semantics, the test UEM) of "
        "whole-recording RTTMs; cpWER / WER (meeteval; WER speaker agnostic) of recording "
        "SegLSTs; percent. TagSpeech and the SOT ASR decode the same VAD windows, SA-EEND the "
        "whole recordings. Training = wall clock on this machine (ours: stages 5 + 6 + 7; peers: "
        "ESPnet's Trainer, validation and start-up included, stopped after the epoch that "
        "crossed the budget); updates = optimizer steps (ours: stage 5 pre-training + stage 7).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|:--|:--|" + "|".join("--:" for _ in COLUMNS[2:]) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "-")) for c in COLUMNS) + " |")
    out += [
        "",
        "SOT ASR: an ASR without speaker identities; each `<sc>`-separated segment of a window is "
        "its own pseudo-speaker, so its cpWER counts the words of every segment beyond one per "
        "reference speaker as errors; the `(reference words, SOT convention)` row scores the "
        "reference's own words that way: what perfect words lose to the convention alone (not a "
        "floor: a hypothesis with fewer words has fewer to lose).",
        "",
        "## Learning curves (valid = the dev set)",
        "",
        "ESPnet SA-EEND (valid DER / acc: ESPnet's frame-level figures at threshold 0.5, dev "
        "recordings whole):",
        "",
        curve(exp / "eend", ("der", "acc")),
        "ESPnet SOT ASR (valid cer_ctc: ESPnet's character error rate of the greedy CTC output "
        "on the dev cuts; acc: the attention decoder's, when the config has one):",
        "",
        curve(exp / "sot", ("cer_ctc", "acc")),
    ]
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    text = "\n".join(out)
    print(text)
    if args.out:
        with atomic_write(args.out) as f:
            f.write(text)
        logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
