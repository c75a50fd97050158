"""DecodeConfig: every setting of how a TagSpeech model decodes, declared once.

A decoding yaml (``conf/decode_*.yaml``), the flags of
``bin/tagspeech_inference`` (built from the fields below, not written by
hand) and ``Speech2Tags.from_pretrained(zip, **overrides)`` all end up as
one :class:`DecodeConfig`; each field carries its one-line help in its
metadata.  Unknown keys, values of the wrong type and settings that do not
belong together are refused with the key (and the yaml file) named.

Two modes write the ``<text>`` block (``text_from``):

* ``llm``: TagSpeech itself, the LLM writes the whole answer (options
  ``speaker_constraint``, ``speaker_every_line``, ``speaker_merge_bias``, ``speaker_max_overlap``,
  ``speaker_voice_bias``,
  ``speaker_voice_threshold``, ``speaker_voice_from``, ``speaker_voice_passes``, ``ctc_word_bias``,
  ``ctc_bias_margin``, ``ctc_time_bias``, ``ctc_order_bias``, ``ctc_end_bias``, ``ctc_skip_penalty``,
  ``time_constraint``, ``no_repeat_words``; with
  ``ctc_time_bias`` the CTC head's lines are searched and cut as the cascade's:
  the settings of ``CTC_LINE_SETTINGS``);
* ``ctc``: the cascade baseline, the semantic stream's CTC head writes the
  lines (options ``ctc_beam_size``, ``lm_weight``, ``token_bonus``,
  ``max_word_gap``, ``voice_split``, ``ctc_start_pad``, ``ctc_end_pad``) and
  the LLM writes the speaker block after them, or with ``speaker_from: lines``
  nobody does (each line its own speaker, for linking that clusters lines).
"""

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from espnet_tagspeech.settings import check_setting_keys, read_settings_yaml, settings_from_dict

TEXT_FROM = ("llm", "ctc")
SPEAKER_FROM = ("llm", "lines")
VOICE_FROM = ("model", "resemblyzer")


def _setting(default: Any, help: str, choices: Optional[tuple] = None) -> Any:
    """A dataclass field holding its default, one-line help and allowed values."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DecodeConfig:
    """How Speech2Tags decodes (see the module docstring for the two modes).

    Each attribute's help is in its field metadata (:meth:`help`); the
    defaults are the paper's greedy decoding with the LLM writing the answer.

    Raises:
        ValueError: on construction, a bad value or settings of the other
            ``text_from`` mode, naming the key.
    """

    batch_size: int = _setting(1, "inputs decoded per call (the answers do not depend on it)")
    max_new_tokens: int = _setting(800, "most tokens the LLM may write per input")
    beam_size: int = _setting(1, "LLM beam search width (1: greedy, as in the paper)")
    text_from: str = _setting("llm", "who writes the <text> block: the LLM (TagSpeech) or the CTC head "
                                     "(cascade; the LLM, or nobody, then writes the speaker block)", TEXT_FROM)
    speaker_from: str = _setting("llm", "text_from ctc: who writes the speaker block: the LLM, or nobody "
                                        "(lines: each line its own speaker, for line clustering; the LLM is "
                                        "not run)", SPEAKER_FROM)
    speaker_constraint: bool = _setting(False, "text_from llm: the speaker block may list only the text "
                                               "block's line ranges, each once, its speakers numbered "
                                               "in order, and closes once every line has a speaker")
    speaker_every_line: bool = _setting(False, "text_from llm, with speaker_constraint: the speaker block "
                                               "may not close while a text line has no speaker")
    speaker_merge_bias: float = _setting(0.0, "text_from llm, with speaker_constraint: score added to another "
                                              "range for the speaker being written while lines are left (0: off)")
    speaker_max_overlap: Optional[float] = _setting(None, "text_from llm, with speaker_constraint: seconds two "
                                                          "lines of one speaker may overlap at most (a person does "
                                                          "not talk over themself; none: no limit)")
    speaker_voice_bias: float = _setting(0.0, "text_from llm, with speaker_constraint: score per unit of cosine "
                                              "similarity (above speaker_voice_threshold) between a line's voice in "
                                              "the speaker stream and the speaker being listed (0: off)")
    speaker_voice_threshold: float = _setting(0.9, "similarity at which speaker_voice_bias neither favours "
                                                   "nor penalises a line")
    speaker_voice_from: str = _setting("model", "whose voice prints speaker_voice_bias compares: the model's "
                                                "speaker stream (frame mean/std over a line), or the GE2E "
                                                "encoder of the resemblyzer wheel over a line's audio",
                                       VOICE_FROM)
    speaker_voice_passes: int = _setting(1, "with speaker_voice_bias: 2 decodes each recording twice, the second "
                                            "time weighing a line against the voices of the recording's speakers "
                                            "as the first decoding linked them (stage 8, decode_meeting)")
    ctc_word_bias: float = _setting(0.0, "text_from llm: score added to the tokens the CTC head emitted "
                                         "within the span of the line being written (0: off)")
    ctc_time_bias: float = _setting(0.0, "text_from llm: score added to the digits that spell the CTC head's "
                                         "line times while the LLM writes a line's times (0: off)")
    ctc_order_bias: float = _setting(0.0, "text_from llm, with ctc_time_bias: score added to the next token, "
                                          "in order, of the CTC line the line being written starts at (0: off)")
    ctc_skip_penalty: float = _setting(0.0, "text_from llm, with ctc_time_bias: score subtracted from a line "
                                            "start that passes the earliest CTC line not written yet, from "
                                            "closing the text block before it and (with ctc_order_bias) from a "
                                            "word token found only further on in the CTC line (0: off)")
    ctc_end_bias: float = _setting(0.0, "text_from llm, with ctc_order_bias: score added to the line break once "
                                        "the line being written holds all the tokens of its CTC line (0: off)")
    time_constraint: bool = _setting(False, "text_from llm: a line's start may not precede the previous "
                                            "line's nor its end its start, both inside the input")
    no_repeat_words: int = _setting(0, "text_from llm: an n-gram of a line's word tokens may not repeat "
                                    "within the line (0: off); times and markup are never blocked")
    ctc_bias_margin: float = _setting(0.5, "seconds a line's span is widened by for ctc_word_bias")
    ctc_beam_size: int = _setting(1, "CTC lines (text_from ctc, ctc_time_bias): CTC prefix beam search "
                                     "width (1: the greedy path)")
    ngram_file: Optional[str] = _setting(None, "token n-gram LM of the text lines (stage 4's ngram.json) "
                                               "for the CTC beam search")
    lm_weight: float = _setting(0.0, "CTC lines: weight of the n-gram LM in the CTC beam search")
    token_bonus: float = _setting(0.0, "CTC lines: score added per CTC label in the beam search")
    max_word_gap: Optional[float] = _setting(None, "CTC lines: split a line where its words pause longer "
                                                   "than this (seconds; none: never)")
    voice_split: Optional[float] = _setting(None, "text_from ctc: split a line where the speaker stream's "
                                                  "voice changes by more than this cosine distance")
    ctc_start_pad: float = _setting(0.0, "CTC lines: seconds a line starts before its first word's CTC frame")
    ctc_end_pad: float = _setting(0.0, "CTC lines: seconds a line ends after its last word's CTC frame")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f.name, getattr(self, f.name), _kind(f.name)))
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {list(choices)}, got {getattr(self, f.name)!r}")
        self.validate()

    def validate(self) -> None:
        """Check ranges and that the settings belong to the chosen ``text_from`` mode.

        Raises:
            ValueError: naming the offending key.
        """
        if self.no_repeat_words < 0:
            raise ValueError(f"no_repeat_words must be >= 0, got {self.no_repeat_words}")
        for name in ("batch_size", "max_new_tokens", "beam_size", "ctc_beam_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("speaker_merge_bias", "speaker_voice_bias", "ctc_word_bias", "ctc_bias_margin", "ctc_time_bias",
                     "ctc_order_bias", "ctc_end_bias", "ctc_skip_penalty",
                     "ctc_start_pad", "ctc_end_pad"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_word_gap", "voice_split"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or none), got {value}")
        other = CTC_TEXT_SETTINGS if self.text_from == "llm" else LLM_TEXT_SETTINGS
        if self.text_from == "llm" and self.ctc_time_bias > 0:
            other = tuple(n for n in other if n not in CTC_LINE_SETTINGS)
        defaults = DecodeConfig.defaults()
        for name in other:
            if getattr(self, name) != defaults[name]:
                raise ValueError(f"{name} applies only with text_from {'ctc' if self.text_from == 'llm' else 'llm'}"
                                 f" (text_from is {self.text_from!r}); leave it out")
        if self.ctc_order_bias and not self.ctc_time_bias:
            raise ValueError("ctc_order_bias follows the CTC lines of ctc_time_bias: set ctc_time_bias > 0")
        if self.ctc_skip_penalty and not self.ctc_time_bias:
            raise ValueError("ctc_skip_penalty steers through the CTC lines of ctc_time_bias: set ctc_time_bias > 0")
        if self.ctc_end_bias and not self.ctc_order_bias:
            raise ValueError("ctc_end_bias ends the CTC line that ctc_order_bias follows: set ctc_order_bias > 0")
        if not -1.0 <= self.speaker_voice_threshold <= 1.0:
            raise ValueError(f"speaker_voice_threshold is a cosine similarity in [-1, 1], got {self.speaker_voice_threshold}")
        if self.speaker_voice_from != "model" and not self.speaker_voice_bias:
            raise ValueError(f"speaker_voice_from {self.speaker_voice_from!r} is read by speaker_voice_bias: set it > 0")
        if self.speaker_voice_passes not in (1, 2):
            raise ValueError(f"speaker_voice_passes must be 1 or 2, got {self.speaker_voice_passes}")
        if self.speaker_voice_passes == 2 and not self.speaker_voice_bias:
            raise ValueError("speaker_voice_passes 2 feeds speaker_voice_bias: set it > 0")
        if self.speaker_max_overlap is not None and self.speaker_max_overlap < 0:
            raise ValueError(f"speaker_max_overlap must be >= 0 (or none), got {self.speaker_max_overlap}")
        for name in ("speaker_every_line", "speaker_merge_bias", "speaker_max_overlap", "speaker_voice_bias"):
            value = getattr(self, name)
            if (value is not None if name == "speaker_max_overlap" else value) and not self.speaker_constraint:
                raise ValueError(f"{name} needs speaker_constraint: true")
        if self.lm_weight != 0 and not self.ngram_file:
            raise ValueError(f"lm_weight {self.lm_weight} needs ngram_file (stage 4's ngram.json)")

    @classmethod
    def keys(cls) -> List[str]:
        """The setting names: every key a decoding yaml may hold."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """Every setting's default."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def help(cls, name: str) -> str:
        """The one-line help of setting ``name``."""
        return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)

    @classmethod
    def check_keys(cls, conf: Mapping[str, Any], source: str) -> None:
        """Refuse keys that are not settings, listing the valid ones.

        Raises:
            ValueError: ``"<source>: unknown decoding setting(s) [...]; valid keys: [...]"``.
        """
        check_setting_keys(cls, conf, source, "decoding")

    @classmethod
    def from_dict(cls, conf: Mapping[str, Any], source: str = "decode config") -> "DecodeConfig":
        """Build from a mapping, naming ``source`` (a yaml path, ``command line``...) in errors.

        Raises:
            ValueError: an unknown key, a bad value, or settings that do not go together.
        """
        return settings_from_dict(cls, conf, source, "decoding")

    @classmethod
    def read_yaml(cls, path: Union[str, Path]) -> Dict[str, Any]:
        """The settings a decoding yaml holds (keys checked, values not combined yet).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a mapping, or an unknown key, naming the file.
        """
        conf = read_settings_yaml(path, "decoding")
        cls.check_keys(conf, str(path))
        return conf

    @classmethod
    def from_yaml(cls, path: Union[str, Path], **overrides: Any) -> "DecodeConfig":
        """Read a decoding yaml; ``overrides`` win over its values.

        Raises:
            ValueError: an unknown key or a bad value, naming the file.
        """
        conf = cls.read_yaml(path)
        cls.check_keys(overrides, "overrides")
        source = f"{path} (with {sorted(overrides)})" if overrides else str(path)
        return cls.from_dict({**conf, **overrides}, source)

    def to_dict(self) -> Dict[str, Any]:
        """The settings as a plain mapping (what a yaml holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add ``--config`` (a decoding yaml) and one ``--<key>`` flag per setting.

        Flags left out are absent from the parsed namespace, so that
        :meth:`from_args` can tell them from values given.
        """
        group = parser.add_argument_group("decoding (DecodeConfig; flags win over the --config yaml)")
        group.add_argument("--config", default=None, help="decoding yaml (conf/decode_*.yaml)")
        for f in dataclasses.fields(cls):
            kind, choices = _kind(f.name), f.metadata.get("choices")
            group.add_argument(f"--{f.name}", type=_parse_flag(kind, optional=_optional(f.name)),
                               default=argparse.SUPPRESS, choices=choices,
                               metavar=None if choices else kind.__name__.upper(),
                               help=f"{f.metadata['help']} (default: {f.default})")

    @classmethod
    def given(cls, args: argparse.Namespace) -> Dict[str, Any]:
        """The settings given as flags (see :meth:`add_arguments`)."""
        return {k: getattr(args, k) for k in cls.keys() if hasattr(args, k)}

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DecodeConfig":
        """The config of parsed arguments: defaults, then the ``--config`` yaml, then flags.

        Raises:
            FileNotFoundError: no such yaml.
            ValueError: a bad yaml or value, naming the file and key.
        """
        conf = cls.read_yaml(args.config) if args.config else {}
        flags = cls.given(args)
        source = args.config or "command line"
        if args.config and flags:
            source += " + command line"
        return cls.from_dict({**conf, **flags}, source)


# the LLM's search fused with the CTC head (text_from llm; a model without a CTC head leaves them off)
CTC_FUSION_SETTINGS = ("ctc_word_bias", "ctc_time_bias", "ctc_order_bias", "ctc_end_bias", "ctc_skip_penalty")
# settings that only one text_from mode reads (the other must leave them at their defaults)
LLM_TEXT_SETTINGS = ("speaker_constraint", "speaker_every_line", "speaker_merge_bias", "speaker_max_overlap",
                     "speaker_voice_bias", "speaker_voice_threshold", "speaker_voice_from", "speaker_voice_passes",
                     *CTC_FUSION_SETTINGS, "time_constraint", "no_repeat_words")
CTC_TEXT_SETTINGS = ("speaker_from", "ctc_beam_size", "lm_weight", "token_bonus", "max_word_gap", "voice_split",
                     "ctc_start_pad", "ctc_end_pad")
# how the CTC head's lines are cut: read by text_from ctc, and by text_from llm with ctc_time_bias
CTC_LINE_SETTINGS = ("ctc_beam_size", "lm_weight", "token_bonus", "max_word_gap", "ctc_start_pad", "ctc_end_pad")


def _optional(name: str) -> bool:
    hint = typing.get_type_hints(DecodeConfig)[name]
    return typing.get_origin(hint) is Union and type(None) in typing.get_args(hint)


def _kind(name: str) -> type:
    """The value type of setting ``name`` (``Optional[x]`` -> ``x``)."""
    hint = typing.get_type_hints(DecodeConfig)[name]
    if typing.get_origin(hint) is Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _checked(name: str, value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` (ints accepted as floats, paths as strings).

    Raises:
        ValueError: a value of another type, naming ``name``.
    """
    if value is None and _optional(name):
        return None
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, Path):
        return str(value)
    if kind is int and isinstance(value, bool):
        ok = False
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{name} must be {'a' if kind is not int else 'an'} {kind.__name__}"
                         f"{' or none' if _optional(name) else ''}, got {value!r}")
    return value


def _parse_flag(kind: type, optional: bool):
    """The argparse ``type`` of a setting's flag (``true``/``false`` for booleans,
    ``none`` for an optional setting left unset)."""

    def parse(text: str):
        if optional and text.lower() in ("none", "null"):
            return None
        if kind is bool:
            if text.lower() in ("true", "yes", "1"):
                return True
            if text.lower() in ("false", "no", "0"):
                return False
            raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse
