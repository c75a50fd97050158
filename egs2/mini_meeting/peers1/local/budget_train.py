#!/usr/bin/env python3
"""Run an ESPnet training command under a wall-clock budget, stopping after the epoch
that crosses it.

ESPnet's Trainer has no time limit, only ``--max_epoch``.  This wrapper runs the
training command (which must use ``--resume true``) and follows its log: ESPnet logs
``N/Mepoch started`` once epoch ``N - 1`` is saved (``checkpoint.pth``, ``N-1epoch.pth``,
best-model links).  When the wall clock spent so far (this run plus earlier interrupted
runs, validation and start-up included) has reached the budget at such a line, the
training is stopped there and the command is run once more with ``--max_epoch N-1``:
ESPnet resumes, finds nothing left to train and writes its n-best averaged models.
That last call is not counted (start-up + averaging, a few seconds).

The ledger ``<output_dir>/budget.json`` keeps the time spent up to the last saved
epoch: re-running after an interruption continues from there (the unsaved part of an
interrupted epoch is lost and not counted); re-running after the budget was used up does
nothing (or only the averaging call, if that was interrupted), unless ``--budget_min``
is now larger: then training goes on from the last epoch.  ESPnet's output is appended to
``<output_dir>/train.log``.

Example::

    python local/budget_train.py --budget_min 16.5 --output_dir exp/eend -- \\
        python -m espnet2.bin.diar_train --config conf/train_eend.yaml \\
        --output_dir exp/eend --resume true ...
"""

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

logger = logging.getLogger("budget_train")

STARTED = re.compile(r"\b(\d+)/(\d+)epoch started")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget_min", type=float, required=True, help="wall-clock minutes of training")
    p.add_argument("--output_dir", required=True, help="the training command's --output_dir")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the log")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    return p


def load_ledger(path: Path) -> Dict[str, object]:
    """The ledger of an output dir (empty when there is none).

    Raises:
        ValueError: naming the file when it is not the JSON this script writes.
    """
    if not path.is_file():
        return {"spent_s": 0.0, "epochs": [], "done": False}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        float(data["spent_s"])
        list(data["epochs"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a budget ledger ({e}); remove it to start over") from None
    return data


def save_ledger(path: Path, data: Dict[str, object]) -> None:
    """Write the ledger atomically."""
    from espnet_tagspeech.data.atomic import atomic_write

    with atomic_write(path) as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def finished_epochs(lines: List[str]) -> List[int]:
    """Epochs whose end a chunk of ESPnet log shows: ``N/Mepoch started`` means epoch
    ``N - 1`` is saved (the first ``started`` line of a run has no epoch before it that
    this run trained, unless it is not epoch 1: then it was saved by an earlier run)."""
    out = []
    for line in lines:
        m = STARTED.search(line)
        if m and int(m.group(1)) > 1:
            out.append(int(m.group(1)) - 1)
    return out


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the training's process group, SIGKILL after 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def _run_logged(command: List[str], log: Path) -> subprocess.Popen:
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"# {' '.join(command)}\n# started at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
    out = open(log, "a", encoding="utf-8")
    try:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def main(argv: Optional[List[str]] = None) -> int:
    """Train under the budget; returns the exit status."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        logger.error("no training command given (after --)")
        return 2
    if args.budget_min <= 0:
        logger.error("--budget_min must be > 0, got %s", args.budget_min)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ledger_path, log = out / "budget.json", out / "train.log"
    try:
        ledger = load_ledger(ledger_path)
    except ValueError as e:
        logger.error("%s", e)
        return 1
    budget_s = 60.0 * args.budget_min
    if ledger.get("done") and ledger.get("stopped_by") == "budget" and float(ledger["spent_s"]) < budget_s:
        logger.info("%s: budget raised to %.1f min (%.1f spent): training on", out, args.budget_min,
                    float(ledger["spent_s"]) / 60)
        ledger["done"] = False
    if ledger.get("done"):
        if list(out.glob("*.ave.pth")):
            logger.info("%s: done (%.1f min, %d epochs); nothing to do",
                        out, float(ledger["spent_s"]) / 60, len(ledger["epochs"]))
            return 0
        logger.info("%s: budget used (%.1f min, %d epochs): averaging only",
                    out, float(ledger["spent_s"]) / 60, len(ledger["epochs"]))
    elif float(ledger["spent_s"]) >= budget_s:
        ledger["done"] = True
    else:
        spent0 = float(ledger["spent_s"])
        logger.info("%s: training, %.1f of %.1f min spent before", out, spent0 / 60, args.budget_min)
        offset = log.stat().st_size if log.is_file() else 0
        t0 = time.monotonic()
        proc = _run_logged(command, log)
        try:
            while True:
                code = proc.poll()
                with open(log, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                # only whole lines: a partly written one is read again next time
                chunk = chunk[: chunk.rfind(b"\n") + 1]
                offset += len(chunk)
                now = time.monotonic() - t0
                lines = chunk.decode("utf-8", errors="replace").splitlines()
                done_epochs = [e for e in finished_epochs(lines) if e not in ledger["epochs"]]
                for epoch in done_epochs:
                    ledger["epochs"].append(epoch)
                    ledger["spent_s"] = spent0 + now
                    ledger.setdefault("saved_at_s", {})[str(epoch)] = round(spent0 + now, 1)
                    logger.info("epoch %d saved at %.1f min", epoch, float(ledger["spent_s"]) / 60)
                if done_epochs:
                    if float(ledger["spent_s"]) >= budget_s:
                        ledger["done"], ledger["stopped_by"] = True, "budget"
                        save_ledger(ledger_path, ledger)
                        logger.info("budget of %.1f min reached after epoch %d: stopping",
                                    args.budget_min, max(ledger["epochs"]))
                        _stop(proc)
                        break
                    save_ledger(ledger_path, ledger)
                if code is not None:
                    if code != 0:
                        save_ledger(ledger_path, ledger)
                        logger.error("training failed with exit code %d: see %s", code, log)
                        return code
                    # ESPnet finished by itself (max_epoch or early stopping)
                    ledger["spent_s"] = spent0 + now
                    ledger["done"], ledger["stopped_by"] = True, "max_epoch"
                    save_ledger(ledger_path, ledger)
                    logger.info("training ended by itself after %.1f min", float(ledger["spent_s"]) / 60)
                    return 0
                time.sleep(args.poll)
        except KeyboardInterrupt:
            _stop(proc)
            save_ledger(ledger_path, ledger)
            raise
    save_ledger(ledger_path, ledger)
    if not ledger["epochs"]:
        logger.error("%s: no epoch was saved within the budget; nothing to average", out)
        return 1
    last = max(ledger["epochs"])
    logger.info("averaging the best models of epochs 1-%d", last)
    proc = _run_logged(command + ["--max_epoch", str(last)], log)
    code = proc.wait()
    if code != 0:
        logger.error("averaging call failed with exit code %d: see %s", code, log)
    return code


if __name__ == "__main__":
    sys.exit(main())
