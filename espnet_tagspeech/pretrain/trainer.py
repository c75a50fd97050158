"""Stage 5: run the pre-training parts with checkpoints, so that a killed run resumes.

Each part (semantic, then speaker) trains its objective's modules with Adam
under a warm-up + optional cosine schedule (``torch.optim.lr_scheduler.LambdaLR``).
Every ``checkpoint_every`` updates ``<output_dir>/checkpoint.pth`` holds the
trained modules, optimizer, schedule, batch sampler and random states; a
finished part is kept as ``<output_dir>/part_<name>.pth``.  Re-running with the
same config and data continues from there and ends at the same weights as an
uninterrupted run (the loop is deterministic on CPU); a changed config or
data path starts the affected part afresh (logged).  With ``average_last`` a
part's result is the mean of its weights over its last updates (the last
weights' valid scores are kept beside the mean's).  The result:
``init.pth`` (weights under the TagSpeech model's keys) and
``pretrain_result.yaml`` (first / last / valid losses).
"""

import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_tagspeech.pretrain.config import PartConfig, PretrainConfig


@dataclass
class PretrainData:
    """Where the pre-training data is.

    Attributes:
        train_dir: Cuts data dir (``wav.scp``, ``text``, ``cut2reco``).
        valid_dir: Cuts data dir of the valid set.
        train_rttm: Recording RTTM of the training set (speaker part; t-SOT targets).
        valid_rttm: Recording RTTM of the valid set.
        train_ctm: Word CTM of the training recordings, channel = speaker (t-SOT targets).
        valid_ctm: Word CTM of the valid recordings.
        tokenizer: Overrides the model config's ``llm_conf.tokenizer``.
    """

    train_dir: str
    valid_dir: str
    train_rttm: Optional[str] = None
    valid_rttm: Optional[str] = None
    train_ctm: Optional[str] = None
    valid_ctm: Optional[str] = None
    tokenizer: Optional[str] = None


def lr_factor(step: int, warmup: int, steps: int, decay: bool) -> float:
    """Linear warm-up, then constant or (``decay``) cosine down to 5 % at the last step."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    if not decay:
        return 1.0
    done = (step - warmup) / max(1, steps - warmup - 1)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))


def _fingerprint(conf: PretrainConfig, data: PretrainData, part: str) -> str:
    """What a saved part or checkpoint must match to be reused.

    The semantic part trains first and nothing in it depends on the speaker
    part's settings: those are left out of its fingerprint, so a changed
    speaker part re-trains only itself.
    """
    model_conf = Path(conf.model_config)
    settings = conf.to_dict()
    if part == "semantic":
        settings.pop("speaker", None)
    text = repr((part, settings, vars(data),
                 model_conf.read_bytes() if model_conf.is_file() else conf.model_config))
    return hashlib.sha1(text.encode()).hexdigest()


def _save(obj, path: Path) -> None:
    import torch

    from espnet_tagspeech.data.atomic import atomic_write

    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def _load_if_matching(path: Path, fingerprint: str) -> Optional[Dict]:
    import torch

    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("fingerprint") != fingerprint:
        logging.warning("%s: made with another config or data; starting afresh", path)
        return None
    return saved


class WeightAverage:
    """Running mean of a part's trained weights over its last updates (``average_last``).

    Buffers (batch-norm statistics) are not averaged: they keep the last update's values.

    Args:
        params: The trained parameters, in a fixed order.
        first_step: The first update (0-based) whose weights enter the mean.
    """

    def __init__(self, params: List, first_step: int) -> None:
        self.params, self.first_step, self.count = params, first_step, 0
        self.mean = [p.detach().clone() for p in params]

    def update(self, step: int) -> None:
        """Add the weights after update ``step`` (those before ``first_step`` are skipped)."""
        import torch

        if step < self.first_step:
            return
        self.count += 1
        with torch.no_grad():
            for m, p in zip(self.mean, self.params):
                m.add_(p.detach() - m, alpha=1.0 / self.count)

    def swap(self) -> None:
        """Exchange the modules' weights and the mean (twice: back as before)."""
        import torch

        with torch.no_grad():
            for m, p in zip(self.mean, self.params):
                last = p.detach().clone()
                p.copy_(m)
                m.copy_(last)

    def state_dict(self) -> Dict:
        return {"first_step": self.first_step, "count": self.count, "mean": self.mean}

    def load_state_dict(self, state: Dict) -> None:
        self.first_step, self.count = state["first_step"], state["count"]
        for m, saved in zip(self.mean, state["mean"]):
            m.copy_(saved)


def train_part(objective, train_set, part: PartConfig, sampler, checkpoint: Path,
               every: int, fingerprint: str, seed: int = 0) -> Tuple[List[float], Optional[WeightAverage]]:
    """Train one objective for ``part.steps`` updates, resuming from ``checkpoint``.

    Returns:
        The loss of every update (those before a resume included), and the running mean of the
        weights over the last updates when ``part.average_last`` is set (else None); the
        modules hold the last update's weights.
    """
    import torch
    from tqdm import tqdm

    params = [p for m in objective.modules for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=part.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, part.warmup, part.steps, part.decay))
    start, losses = 0, []
    average = None
    if part.average_last > 0:
        average = WeightAverage(params, part.steps - max(1, round(part.average_last * part.steps)))
    saved = _load_if_matching(checkpoint, fingerprint)
    if saved is not None:
        for m, state in zip(objective.modules, saved["modules"]):
            m.load_state_dict(state)
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        sampler.load_state_dict(saved["sampler"])
        torch.set_rng_state(saved["torch_rng"])
        start, losses = saved["step"], list(saved["losses"])
        if average is not None:
            average.load_state_dict(saved["average"])
        logging.info("%s: resumed at update %d of %d from %s", objective.name, start, part.steps, checkpoint)
    # the device type of the trained weights: autocast's; the backward follows the forward's dtypes
    device_type = params[0].device.type if params else "cpu"
    autocast = (torch.autocast(device_type, dtype=getattr(torch, part.autocast)) if part.autocast
                else contextlib.nullcontext())
    t0 = time.time()
    for step in tqdm(range(start, part.steps), desc=objective.name, unit="step", mininterval=5,
                     initial=start, total=part.steps):
        # augmentation draws depend on the seed and update only: a resumed run draws the same
        with autocast:
            loss = objective.loss([train_set[i] for i in next(sampler)], np.random.default_rng([seed, step]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        if average is not None:
            average.update(step)
        losses.append(loss.item())
        if step % 50 == 0:
            logging.info("%s step %d (%.0f s): loss %.3f", objective.name, step, time.time() - t0, losses[-1])
        if (step + 1) % every == 0 and step + 1 < part.steps:
            _save({"fingerprint": fingerprint, "step": step + 1, "losses": losses,
                   "modules": [m.state_dict() for m in objective.modules],
                   "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                   "sampler": sampler.state_dict(), "torch_rng": torch.get_rng_state(),
                   "average": average.state_dict() if average is not None else None}, checkpoint)
    return losses, average


def run_pretrain(conf: PretrainConfig, data: PretrainData, output_dir: str, device: str = "cpu") -> Dict[str, float]:
    """Run the configured parts; returns their first / last / valid losses.

    A model whose CTC head is time-ordered (``model_conf.ctc_order: time``)
    needs the recordings' RTTM and word CTM of both sets for its t-SOT targets;
    the speaker part needs the training RTTM.  Those are checked before any work.

    Raises:
        ValueError: a missing input (named).
    """
    import torch
    import yaml

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.data.formats import read_rttm
    from espnet_tagspeech.pretrain.data import CutBatchSampler, cut_tsot_elements, load_cuts
    from espnet_tagspeech.pretrain.objectives import SemanticCtcObjective, SpeakerActivityObjective
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask, args_from_config

    from espnet_tagspeech.data.atomic import check_writable
    from espnet_tagspeech.data.errors import DataFormatError

    if conf.speaker is not None and not data.train_rttm:
        raise ValueError("speaker pre-training needs --train_rttm (global speaker labels)")
    for d in (data.train_dir, data.valid_dir):  # the inputs and the output dir, before any model
        for name in ("wav.scp", "text"):
            if not (Path(d) / name).is_file():
                raise DataFormatError(str(Path(d) / name), None, "no such file (a cuts data dir of stage 3)")
    for f in (data.train_rttm, data.valid_rttm, data.train_ctm, data.valid_ctm, conf.model_config):
        if f and not Path(f).is_file():
            raise DataFormatError(str(f), None, "no such file")
    check_writable(Path(output_dir))
    args = args_from_config(conf.model_config)
    # the parts pre-trained here train here, whatever the main training does with them
    if conf.semantic is not None:
        args.semantic_encoder_conf = {**(args.semantic_encoder_conf or {}), "freeze": False}
    if conf.speaker is not None:
        args.speaker_encoder_conf = {**(args.speaker_encoder_conf or {}), "freeze": False}
    if data.tokenizer:
        args.llm_conf = {**args.llm_conf, "tokenizer": data.tokenizer}
    torch.manual_seed(conf.seed)
    model = TagSpeechTask.build_model(args).to(device)
    tok = model.llm.tokenizer
    rate = int(getattr(args, "sample_rate", 16000))
    rng = np.random.default_rng(conf.seed)
    speakers: Dict[str, int] = {}
    if conf.speaker is not None:
        speakers = {s: i for i, s in enumerate(sorted({t.speaker for t in read_rttm(data.train_rttm)}))}
        logging.info("speaker pre-training over %d training speakers", len(speakers))
    tsot_train = tsot_valid = None
    if conf.semantic is not None and model.ctc_order == "time":
        for name in ("train_rttm", "valid_rttm", "train_ctm", "valid_ctm"):
            if not getattr(data, name):
                raise ValueError(f"t-SOT pre-training (model_conf ctc_order: time) needs --{name} "
                                 "(recording turns and word times)")
        tsot_train = cut_tsot_elements(Path(data.train_dir), data.train_rttm, data.train_ctm, model.ctc_channels)
        tsot_valid = cut_tsot_elements(Path(data.valid_dir), data.valid_rttm, data.valid_ctm, model.ctc_channels)
        logging.info("t-SOT targets on %d channels", model.ctc_channels)
    spk_rttm = conf.speaker is not None
    train_set = load_cuts(data.train_dir, tok, rate, conf.max_cut_sec,
                          data.train_rttm if spk_rttm else None, speakers, tsot_train)
    # valid voices never heard in training get labels of their own (embedding EER, no accuracy)
    valid_speakers = speakers
    if spk_rttm and data.valid_rttm:
        names = sorted({t.speaker for t in read_rttm(data.valid_rttm)})
        if not set(names) <= set(speakers):
            valid_speakers = {s: i for i, s in enumerate(names)}
    seen = valid_speakers is speakers
    valid_set = load_cuts(data.valid_dir, tok, rate, conf.max_cut_sec,
                          data.valid_rttm if spk_rttm else None, valid_speakers, tsot_valid)
    durations = [len(c.wav) / rate for c in train_set]

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: Dict[str, float] = {}
    state: Dict[str, torch.Tensor] = {}
    for part_name, part in (("semantic", conf.semantic), ("speaker", conf.speaker)):
        if part is None:
            continue
        fingerprint = _fingerprint(conf, data, part_name)
        done_file = out / f"part_{part_name}.pth"
        if part_name == "semantic":
            objective = SemanticCtcObjective(model, tok.vocab_size, device, rate, part.speed_perturb,
                                             part.mel_warp)
        else:
            objective = SpeakerActivityObjective(model, len(speakers), device, part)
        done = _load_if_matching(done_file, fingerprint)
        if done is not None:  # finished before: its weights and the random states after it
            for m, s in zip(objective.modules, done["modules"]):
                m.load_state_dict(s)
            torch.set_rng_state(done["torch_rng"])
            rng.bit_generator.state = done["numpy_rng"]
            result.update(done["result"])
            state.update(objective.init_state())
            logging.info("%s: finished before (%s)", objective.name, done_file)
            continue
        sampler = CutBatchSampler(durations, conf.batch_size, conf.batch_sec, rng)
        objective.encoder.train()
        losses, average = train_part(objective, train_set, part, sampler, out / "checkpoint.pth",
                                     conf.checkpoint_every, fingerprint, conf.seed)
        objective.encoder.eval()

        def validate() -> Dict[str, float]:
            return (objective.validate(valid_set, conf.batch_size) if part_name == "semantic" else
                    objective.validate(valid_set, conf.batch_size, len(valid_speakers), seen))

        valid = validate()
        if average is not None:  # the mean is the part's result; the last weights' scores beside it
            average.swap()
            valid = {**validate(), **{f"{k}_last_weights": v for k, v in valid.items()}}
            logging.info("%s: weights averaged over the last %d updates: %s", objective.name, average.count,
                         valid)
        part_result = {f"{part_name}_first_loss": losses[0],
                       f"{part_name}_last_loss": float(np.mean(losses[-10:])), **valid}
        result.update(part_result)
        state.update(objective.init_state())
        _save({"fingerprint": fingerprint, "result": part_result,
               "modules": [m.state_dict() for m in objective.modules],
               "torch_rng": torch.get_rng_state(), "numpy_rng": rng.bit_generator.state}, done_file)
        (out / "checkpoint.pth").unlink(missing_ok=True)

    with atomic_write(out / "init.pth", "wb") as f:
        torch.save(state, f)
    with atomic_write(out / "pretrain_result.yaml") as f:
        yaml.safe_dump(result, f)
    logging.info("wrote %s: %s", out / "init.pth", result)
    return result
