"""TagSpeechTask: the TagSpeech model as an ESPnet task (training via ESPnet's Trainer).

Config (flat ESPnet style)::

    semantic_encoder: wavlm         # + semantic_encoder_conf
    speaker_encoder: ecapa          # + speaker_encoder_conf
    semantic_projector: stack_mlp   # + semantic_projector_conf {ds_rate: 4}
    speaker_projector: stack_mlp    # + speaker_projector_conf {ds_rate: 8}
    llm: hf_causal_lm               # + llm_conf {model_name_or_path | init: random, ...}
    model_conf: {semantic_anchor_interval: 8, speaker_anchor_interval: 8}

Data: ``text`` (``text``: one escaped target per line) and either ``speech``
(``sound``) or, with both encoders frozen, their outputs dumped by stage 6
(``semantic_feats``, ``speaker_feats``, ``ctc_topk_ids``, ``ctc_topk_probs``:
``kaldi_ark``, see :mod:`espnet_tagspeech.model.stream_cache`).
"""

import argparse
import logging
import sys
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.class_choices import ClassChoices
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.train.trainer import Trainer
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.model.abs_stream import AbsStream
from espnet_tagspeech.model.espnet_model import ESPnetTagSpeechModel
from espnet_tagspeech.model.llm import HFCausalLM
from espnet_tagspeech.model.projector import AbsProjector, StackMLPProjector
from espnet_tagspeech.model.semantic import WavLMStream
from espnet_tagspeech.model.speaker import EcapaStream
from espnet_tagspeech.model.stream_cache import NAMES as STREAM_NAMES
from espnet_tagspeech.model.tokenizer import build_tokenizer
from espnet_tagspeech.tasks.preprocessor import TagSpeechPreprocessor

semantic_encoder_choices = ClassChoices(
    name="semantic_encoder",
    classes=dict(wavlm=WavLMStream),
    type_check=AbsStream,
    default="wavlm",
)
speaker_encoder_choices = ClassChoices(
    name="speaker_encoder",
    classes=dict(ecapa=EcapaStream),
    type_check=AbsStream,
    default="ecapa",
)
semantic_projector_choices = ClassChoices(
    name="semantic_projector",
    classes=dict(stack_mlp=StackMLPProjector),
    type_check=AbsProjector,
    default="stack_mlp",
)
speaker_projector_choices = ClassChoices(
    name="speaker_projector",
    classes=dict(stack_mlp=StackMLPProjector),
    type_check=AbsProjector,
    default="stack_mlp",
)
llm_choices = ClassChoices(
    name="llm",
    classes=dict(hf_causal_lm=HFCausalLM),
    type_check=torch.nn.Module,
    default="hf_causal_lm",
)


def _get_class(choices: ClassChoices, name: Optional[str]) -> type:
    """The class named ``name``, or an error listing the valid names."""
    if name not in choices.classes:
        valid = ", ".join(repr(c) for c in choices.classes)
        raise ValueError(f"unknown {choices.name} {name!r}; valid choices: {valid}")
    return choices.classes[name]


def _config_name(args: argparse.Namespace) -> str:
    """The config file options came from, for messages (``<options>`` without one)."""
    return str(getattr(args, "config", None) or "<options>")


def _unknown_keys(conf: Dict, cls: type, section: str, given: Tuple[str, ...], where: str) -> None:
    """Raise naming the first key of ``conf`` that ``cls``'s constructor does not take.

    Args:
        conf: The ``*_conf`` mapping of the config.
        cls: The class it is passed to.
        section: The config key holding ``conf`` (for the message).
        given: Constructor arguments the task passes itself (not allowed in ``conf``).
        where: The config file, for the message.

    Raises:
        DataFormatError: an unknown key (with the nearest valid one when there is one).
    """
    import difflib
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [k for k in params if k != "self" and k not in given]
    for key in conf:
        if key not in valid:
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f"; valid keys: {', '.join(valid)}"
            raise DataFormatError(where, None, f"{section}: unknown key {key!r}{hint}")


def check_config(args: argparse.Namespace) -> None:
    """Check every ``*_conf`` / ``model_conf`` key against the constructor it goes to.

    Raises:
        DataFormatError: naming the config file, the section and the misspelled key.
    """
    where = _config_name(args)
    for choices in TagSpeechTask.class_choices_list:
        cls = choices.classes.get(getattr(args, choices.name, None))
        conf = getattr(args, f"{choices.name}_conf", None) or {}
        if cls is not None:
            given = ("input_size",) if "projector" in choices.name else ()
            _unknown_keys(conf, cls, f"{choices.name}_conf", given, where)
    modules = ("semantic_encoder", "speaker_encoder", "semantic_projector", "speaker_projector", "llm")
    _unknown_keys(getattr(args, "model_conf", None) or {}, ESPnetTagSpeechModel, "model_conf", modules, where)


def check_inputs(args: argparse.Namespace) -> None:
    """Check, before training starts, the config's keys and that every input file exists.

    Inputs: the data files of ``--{train,valid}_data_path_and_name_and_type``, the
    ``--*_shape_file`` files, the ``--init_param`` checkpoints and a sentencepiece
    tokenizer named by ``llm_conf``.

    Raises:
        DataFormatError: naming the config key, or the missing file and the option giving it.
    """
    from pathlib import Path

    check_config(args)
    named = []
    for opt in ("train_data_path_and_name_and_type", "valid_data_path_and_name_and_type"):
        named += [(f"--{opt}", str(path)) for path, _, _ in getattr(args, opt, None) or []]
    for opt in ("train_shape_file", "valid_shape_file"):
        named += [(f"--{opt}", str(path)) for path in getattr(args, opt, None) or []]
    named += [("--init_param", str(spec).split(":")[0]) for spec in getattr(args, "init_param", None) or []]
    tokenizer = (getattr(args, "llm_conf", None) or {}).get("tokenizer")
    if tokenizer and str(tokenizer).endswith(".model"):
        named.append((f"{_config_name(args)}: llm_conf.tokenizer", str(tokenizer)))
    for option, path in named:
        if not Path(path).is_file():
            raise DataFormatError(path, None, f"no such file (given by {option})")


def _wav_scps(args: argparse.Namespace, train: bool) -> List[str]:
    triples = getattr(args, "train_data_path_and_name_and_type" if train else
                      "valid_data_path_and_name_and_type", None) or []
    return [p for p, name, kind in triples if name == "speech" and kind == "sound"]


class TagSpeechTask(AbsTask):
    """ESPnet task for the TagSpeech model."""

    num_optimizers: int = 1
    class_choices_list = [
        semantic_encoder_choices,
        speaker_encoder_choices,
        semantic_projector_choices,
        speaker_projector_choices,
        llm_choices,
    ]
    trainer = Trainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Task options plus ``--<part>`` / ``--<part>_conf`` for every part."""
        group = parser.add_argument_group(description="Task related")
        group.add_argument(
            "--model_conf",
            action=NestedDictAction,
            default=get_default_kwargs(ESPnetTagSpeechModel),
            help="Keyword arguments of ESPnetTagSpeechModel (anchor intervals).",
        )
        group.add_argument(
            "--use_preprocessor",
            type=str2bool,
            default=True,
            help="Check audio and tokenize targets in the data loader.",
        )
        group.add_argument(
            "--sample_rate", type=int, default=16000, help="Sample rate the model expects."
        )
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def print_config(cls, file=None) -> None:
        """Print the config (ESPnet reads the options from ``sys.argv``).

        ESPnet's default binds the stdout of import time; this writes to the
        current one.
        """
        super().print_config(file=file or sys.stdout)

    @classmethod
    def build_collate_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Callable[[Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]]:
        """Pad speech with 0.0 and token ids with -1."""
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.array]], Dict[str, np.ndarray]]]:
        """Audio checks and target tokenization with the LLM's tokenizer."""
        if not args.use_preprocessor:
            return None
        conf = args.llm_conf or {}
        tokenizer = build_tokenizer(
            conf.get("tokenizer"),
            conf.get("model_name_or_path"),
            conf.get("local_files_only", True),
        )
        return TagSpeechPreprocessor(
            train=train,
            tokenizer=tokenizer,
            sample_rate=getattr(args, "sample_rate", 16000),
            wav_scps=_wav_scps(args, train),
        )

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        """``text`` for training (with ``speech`` or dumped stream features); ``speech`` for inference."""
        return ("speech",) if inference else ("text",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        """``speech``, or the frozen encoders' dumped outputs (stage 6, ``dump_streams``)."""
        return () if inference else ("speech",) + STREAM_NAMES

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ESPnetTagSpeechModel:
        """Build streams, projectors and LLM from the config; check anchor spacing.

        Raises:
            DataFormatError: a ``*_conf`` key the part it configures does not take.
        """
        check_config(args)
        llm = _get_class(llm_choices, args.llm)(**(args.llm_conf or {}))
        d_llm = llm.hidden_size()
        semantic = _get_class(semantic_encoder_choices, args.semantic_encoder)(
            **(args.semantic_encoder_conf or {})
        )
        speaker = _get_class(speaker_encoder_choices, args.speaker_encoder)(
            **(args.speaker_encoder_conf or {})
        )
        projectors = []
        for choices, name, conf, stream in (
            (semantic_projector_choices, args.semantic_projector, args.semantic_projector_conf, semantic),
            (speaker_projector_choices, args.speaker_projector, args.speaker_projector_conf, speaker),
        ):
            conf = dict(conf or {})
            conf.setdefault("output_size", d_llm)
            projectors.append(_get_class(choices, name)(input_size=stream.output_size(), **conf))
        model = ESPnetTagSpeechModel(
            semantic_encoder=semantic,
            speaker_encoder=speaker,
            semantic_projector=projectors[0],
            speaker_projector=projectors[1],
            llm=llm,
            **(args.model_conf or {}),
        )
        logging.info("built %s", type(model).__name__)
        return model

    @classmethod
    def build_model_from_yaml(
        cls,
        config_path: str,
        overrides: Optional[Dict[str, Dict]] = None,
        init_param: Optional[str] = None,
        device: str = "cpu",
    ) -> ESPnetTagSpeechModel:
        """Build a model from a training yaml (task defaults for what it leaves out).

        Args:
            config_path: A training config (``conf/tuning/train_*.yaml``).
            overrides: ``{"llm_conf": {"tokenizer": ...}, ...}`` merged into the
                yaml's ``*_conf`` mappings (other keys replace the yaml's).
            init_param: A partial state dict (stage 5's ``init.pth``) loaded on top;
                every key it holds must exist in the model.
            device: Where the model goes.

        Raises:
            ValueError: an unknown key of the yaml, or init keys the model lacks.
        """
        import yaml

        parser = cls.get_parser()
        args = parser.parse_args([])
        with open(config_path, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
        unknown = sorted(k for k in conf if not hasattr(args, k))
        if unknown:
            raise ValueError(f"{config_path}: unknown keys {unknown}")
        for k, v in (overrides or {}).items():
            base = conf.get(k)
            conf[k] = {**base, **v} if isinstance(base, dict) and isinstance(v, dict) else v
        for k, v in conf.items():
            setattr(args, k, v)
        args.config = config_path  # (named in messages)
        model = cls.build_model(args)
        if init_param:
            state = torch.load(init_param, map_location="cpu", weights_only=False)
            extra = sorted(set(state) - set(model.state_dict()))
            if extra:
                raise ValueError(f"{init_param}: keys the model of {config_path} lacks: {extra[:5]}")
            model.load_state_dict(state, strict=False)
        return model.to(device)


def args_from_config(config_path: str) -> argparse.Namespace:
    """``TagSpeechTask``'s default arguments updated by a training config file.

    What ESPnet's ``--config`` does inside training, for code that builds the
    model outside the Trainer (stage-5 pre-training, tests, benchmarks).

    Raises:
        ValueError: the file cannot be read or is not a yaml mapping (named).
    """
    import yaml

    try:
        with open(config_path, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
    except OSError as e:
        raise ValueError(f"{config_path}: cannot read the model config ({e.strerror})") from None
    if not isinstance(conf, dict):
        raise ValueError(f"{config_path}: expected a yaml mapping of training options")
    args = TagSpeechTask.get_parser().parse_args([])
    unknown = sorted(k for k in conf if not hasattr(args, k))
    if unknown:
        raise ValueError(f"{config_path}: unknown keys {unknown} (not options of the TagSpeech task)")
    for k, v in conf.items():
        setattr(args, k, v)
    return args
