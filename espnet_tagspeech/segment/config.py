"""SegmentConfig: how a recording is cut into decoding windows without a reference, declared once.

One set of settings serves every place a recording is segmented: stage 3 of
the recipe (``bin/segment_recordings --config conf/segment_*.yaml``), the pack
(``segment_config``, what ``Speech2Tags.from_pretrained`` reads), whole-meeting
decoding from Python and ``bin/tagspeech_meeting_inference``.  The command-line
flags are built from the fields below; ``segment_recordings`` records the
settings it used as ``segment.yaml`` in the dir it writes, so a decoding (and
the pack) can tell which windows it was given.
"""

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Union

from espnet_tagspeech.segment.windows import WindowConfig
from espnet_tagspeech.settings import read_settings_yaml, settings_from_dict

if TYPE_CHECKING:  # (the segmenters import torch lazily; their module is not needed to read settings)
    from espnet_tagspeech.segment.vad import AbsSegmenter

SEGMENTER_NAMES = ("silero", "energy")
RECORD_NAME = "segment.yaml"
"""The file ``segment_recordings`` writes in its output dir: the settings it used."""


@dataclass(frozen=True)
class SegmentConfig(WindowConfig):
    """The segmenter and how its speech regions become windows (:class:`WindowConfig`'s fields).

    Each setting's one-line help is in its field metadata.

    Raises:
        ValueError: on construction, a bad value, naming the key.
    """

    segmenter: str = field(default="silero", metadata={"help": "silero: the Silero VAD network (in its wheel); "
                                                               "energy: frame energy (clean audio only)",
                                                       "choices": SEGMENTER_NAMES})  # fmt: skip
    vad_threshold: float = field(default=0.5, metadata={"help": "silero: speech probability threshold"})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            want = str if f.name == "segmenter" else float
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif not isinstance(value, want) or isinstance(value, bool):
                raise ValueError(f"{f.name} must be a {want.__name__}, got {value!r}")
        super().__post_init__()
        if self.segmenter not in SEGMENTER_NAMES:
            raise ValueError(f"segmenter must be one of {list(SEGMENTER_NAMES)}, got {self.segmenter!r}")
        if not 0.0 < self.vad_threshold < 1.0:
            raise ValueError(f"vad_threshold must be in (0, 1), got {self.vad_threshold}")

    @classmethod
    def keys(cls) -> List[str]:
        """The names of the settings (the keys a segment yaml may hold)."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, conf: Mapping[str, Any], source: str = "segment config") -> "SegmentConfig":
        """Build from a mapping, naming ``source`` (a yaml path, ``command line``...) in errors.

        Raises:
            ValueError: an unknown key (the valid ones are listed) or a bad value.
        """
        return settings_from_dict(cls, conf, source, "segmentation")

    @classmethod
    def read_yaml(cls, path: Union[str, Path]) -> Dict[str, Any]:
        """The settings a segment yaml holds (keys and values checked).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not valid yaml, not a mapping, or an unknown key, naming the file.
        """
        conf = read_settings_yaml(path, "segment")
        cls.from_dict(conf, str(path))
        return conf

    @classmethod
    def from_yaml(cls, path: Union[str, Path], **overrides: Any) -> "SegmentConfig":
        """Read a segment yaml; ``overrides`` win over its values."""
        source = f"{path} (with {sorted(overrides)})" if overrides else str(path)
        return cls.from_dict({**cls.read_yaml(path), **overrides}, source)

    def to_dict(self) -> Dict[str, Any]:
        """The settings as a plain mapping (what a yaml holds)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The settings as yaml text (what :meth:`write_yaml` writes)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def write_yaml(self, path: Union[str, Path]) -> None:
        """Write the settings as a yaml (whole or not at all)."""
        from espnet_tagspeech.data.atomic import atomic_write

        with atomic_write(path) as f:
            f.write(self.to_yaml())

    def build_segmenter(self) -> "AbsSegmenter":
        """The segmenter these settings name (:func:`espnet_tagspeech.segment.vad.build_segmenter`)."""
        from espnet_tagspeech.segment.vad import build_segmenter

        options = {"threshold": self.vad_threshold} if self.segmenter == "silero" else {}
        return build_segmenter(self.segmenter, **options)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, config_flag: str = "--segment_config") -> None:
        """Add ``config_flag`` (a segment yaml) and one ``--<key>`` flag per setting.

        Flags left out are absent from the parsed namespace, so that
        :meth:`from_args` can tell them from values given.
        """
        group = parser.add_argument_group(f"segmentation (SegmentConfig; flags win over the {config_flag} yaml)")
        group.add_argument(config_flag, dest="segment_config", default=None,
                           help="segmentation yaml (conf/segment_*.yaml)")  # fmt: skip
        for f in dataclasses.fields(cls):
            kind = str if f.name == "segmenter" else float
            group.add_argument(f"--{f.name}", type=kind, default=argparse.SUPPRESS, choices=f.metadata.get("choices"),
                               help=f"{f.metadata['help']} (default: {f.default})")  # fmt: skip

    @classmethod
    def given(cls, args: argparse.Namespace) -> Dict[str, Any]:
        """The settings given as flags (see :meth:`add_arguments`)."""
        return {k: getattr(args, k) for k in cls.keys() if hasattr(args, k)}

    @classmethod
    def from_args(cls, args: argparse.Namespace, base: Optional["SegmentConfig"] = None) -> "SegmentConfig":
        """The config of parsed arguments: the yaml if one is given, else ``base`` (default: the
        defaults); flags win over either.

        Raises:
            FileNotFoundError: no such yaml.
            ValueError: a bad yaml or value, naming the file and key.
        """
        path = getattr(args, "segment_config", None)
        if path:
            conf = cls.read_yaml(path)
        else:
            conf = base.to_dict() if base is not None else {}
        flags = cls.given(args)
        source = " + ".join(x for x in (path, "command line" if flags else None) if x) or "defaults"
        return cls.from_dict({**conf, **flags}, source)
