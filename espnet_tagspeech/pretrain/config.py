"""The stage-5 pre-training config: one dataclass read from the recipe's yaml.

Example (``conf/pretrain_tagspeech_mini.yaml``)::

    model_config: conf/train_tagspeech_mini.yaml   # the model; tagspeech.sh passes --train_config
    batch_sec: 76                        # or batch_size: 8 (random cuts per update)
    max_cut_sec: 20
    seed: 0
    checkpoint_every: 200
    semantic: {steps: 2350, lr: 0.003, warmup: 100, decay: true}
    speaker: {steps: 700, lr: 0.002, warmup: 30, decay: true}
"""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union


@dataclass
class PartConfig:
    """Schedule of one pre-training part (Adam, linear warm-up, optional cosine decay)."""

    steps: int = 400  # updates of this part
    lr: float = 2e-3  # peak learning rate
    warmup: int = 50  # linear warm-up updates
    decay: bool = False  # cosine decay to 5 % of lr at the last update
    # semantic part: each training cut played this many times faster, one factor drawn per
    # cut and update (e.g. [0.9, 1.0, 1.1]: pitch, formants and tempo move as between voices)
    speed_perturb: Optional[List[float]] = None
    # semantic part: each training cut's mel axis stretched by a factor drawn uniformly from
    # [1 - w, 1 + w] per cut and update (formants move as between vocal tracts; fbank frontend)
    mel_warp: float = 0.0
    # speaker part: weight of an additive angular margin (AAM) softmax over the training
    # speakers on embeddings pooled over single-speaker spans, so that voices embed apart
    aam_weight: float = 0.0
    aam_margin: float = 0.2  # angular margin (radians)
    aam_scale: float = 30.0  # logit scale
    aam_min_sec: float = 0.5  # shortest single-speaker span pooled into an embedding
    # forward passes of the updates under torch.autocast in this dtype ("bfloat16": the
    # matmuls of CPUs with bf16 instructions run faster); null: float32 throughout
    autocast: Optional[str] = None
    # the part's result is the running mean of its weights after each of its last
    # ``average_last`` x steps updates (0: the last update's weights); off in the mini
    # recipe: under its cosine decay the mean scored worse than the last weights (its README)
    average_last: float = 0.0

    def __post_init__(self) -> None:
        self.average_last = float(self.average_last)
        if not 0.0 <= self.average_last <= 1.0:
            raise ValueError(f"average_last must be in [0, 1], got {self.average_last}")
        if float(self.aam_weight) < 0:
            raise ValueError(f"aam_weight must be >= 0, got {self.aam_weight}")
        self.aam_weight, self.aam_margin = float(self.aam_weight), float(self.aam_margin)
        self.aam_scale, self.aam_min_sec = float(self.aam_scale), float(self.aam_min_sec)
        self.mel_warp = float(self.mel_warp)
        if not 0.0 <= self.mel_warp < 0.5:
            raise ValueError(f"mel_warp must be in [0, 0.5), got {self.mel_warp}")
        if self.speed_perturb is not None:
            if not isinstance(self.speed_perturb, (list, tuple)) or not self.speed_perturb or \
                    not all(isinstance(f, (int, float)) and 0.5 <= f <= 2.0 for f in self.speed_perturb):
                raise ValueError(f"speed_perturb must be a list of factors in [0.5, 2], got {self.speed_perturb!r}")
            self.speed_perturb = [float(f) for f in self.speed_perturb]
        if self.autocast is not None and self.autocast not in ("bfloat16", "float16"):
            raise ValueError(f"autocast must be bfloat16, float16 or null, got {self.autocast!r}")
        if int(self.steps) < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if float(self.lr) <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        self.steps, self.lr = int(self.steps), float(self.lr)
        self.warmup, self.decay = int(self.warmup), bool(self.decay)


@dataclass
class PretrainConfig:
    """What stage 5 trains and how.

    ``semantic``: CTC on the semantic encoder in the label order of the model's
    CTC head; ``speaker``: frame-level classification of the training speakers
    on the speaker encoder.  A part left out is not trained.
    """

    model_config: str = ""  # the TagSpeech training config of the model to pre-train
    batch_size: int = 8  # cuts per update, drawn at random (when batch_sec is not set)
    batch_sec: Optional[float] = None  # or: cuts of similar length, at most this many padded seconds
    max_cut_sec: float = 20.0  # longer cuts are left out
    seed: int = 0  # model init and batch order
    checkpoint_every: int = 200  # updates between resumable checkpoints
    semantic: Optional[PartConfig] = None
    speaker: Optional[PartConfig] = None

    def __post_init__(self) -> None:
        if not self.model_config:
            raise ValueError("model_config: missing (the model's training config)")
        if self.semantic is None and self.speaker is None:
            raise ValueError("nothing to do: give 'semantic' and/or 'speaker'")
        if self.batch_sec is not None and float(self.batch_sec) <= 0:
            raise ValueError(f"batch_sec must be > 0, got {self.batch_sec}")
        if self.speaker is not None and self.speaker.speed_perturb:
            raise ValueError("speaker: speed_perturb is for the semantic part only "
                             "(a voice played faster is another voice)")
        if self.speaker is not None and self.speaker.mel_warp:
            raise ValueError("speaker: mel_warp is for the semantic part only "
                             "(a warped voice is another voice)")
        if self.semantic is not None and self.semantic.aam_weight:
            raise ValueError("semantic: aam_weight is for the speaker part only")
        if int(self.checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")

    @classmethod
    def from_dict(cls, conf: Dict[str, Any], source: str = "pretrain config") -> "PretrainConfig":
        """Build from a yaml mapping; an unknown key is named with the valid ones.

        Raises:
            ValueError: ``"<source>: ..."`` for an unknown key or a bad value.
        """
        if not isinstance(conf, dict):
            raise ValueError(f"{source}: expected a mapping, got {type(conf).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(conf) - set(valid))
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; valid: {valid}")
        kw = dict(conf)
        try:
            for name in ("semantic", "speaker"):
                kw[name] = _part(kw.get(name), f"{source}: {name}")
            return cls(**kw)
        except (TypeError, ValueError) as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(source) else f"{source}: {msg}") from None

    @classmethod
    def from_yaml(cls, path: Union[str, Path], model_config: Optional[str] = None) -> "PretrainConfig":
        """Read ``path``; ``model_config`` (the recipe's ``--train_config``) overrides its key."""
        import yaml

        try:
            with open(path, encoding="utf-8") as f:
                conf = yaml.safe_load(f) or {}
        except OSError as e:
            raise ValueError(f"{path}: cannot read ({e.strerror})") from None
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid yaml ({e})") from None
        if model_config and isinstance(conf, dict):
            conf["model_config"] = model_config
        return cls.from_dict(conf, str(path))

    def to_dict(self) -> Dict[str, Any]:
        """Plain mapping (for checkpoints: a change of any knob starts a part afresh)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("semantic", "speaker"):
            part = out[name]
            out[name] = None if part is None else {f.name: getattr(part, f.name) for f in fields(part)}
        return out


def _part(value: Any, where: str) -> Optional[PartConfig]:
    if value is None or isinstance(value, PartConfig):
        return value
    valid = [f.name for f in fields(PartConfig)]
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping with keys {valid}, got {value!r}")
    unknown = sorted(set(value) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid: {valid}")
    try:
        return PartConfig(**value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


__all__ = ["PartConfig", "PretrainConfig"]
