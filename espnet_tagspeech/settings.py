"""Settings dataclasses read from yaml: one way to read a file and to refuse a wrong key.

The decoding, segmentation and linking configs
(:class:`~espnet_tagspeech.decode.config.DecodeConfig`,
:class:`~espnet_tagspeech.segment.config.SegmentConfig`,
:class:`~espnet_tagspeech.decode.link.LinkConfig`) each declare their settings
as dataclass fields; these helpers read their yaml files and build them, naming
the file and the key of any mistake.
"""

import dataclasses
from pathlib import Path
from typing import Any, Dict, Mapping, Type, TypeVar, Union

T = TypeVar("T")


def read_settings_yaml(path: Union[str, Path], what: str) -> Dict[str, Any]:
    """The mapping a ``what`` config yaml holds (an empty file holds no settings).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid yaml, or not a mapping, naming the file.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} config not found: {path}")
    with path.open(encoding="utf-8") as f:
        try:
            conf = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid yaml: {e}") from None
    conf = {} if conf is None else conf
    if not isinstance(conf, dict):
        raise ValueError(f"{path}: a {what} config is a mapping of settings, got {type(conf).__name__}")
    return conf


def check_setting_keys(cls: type, conf: Mapping[str, Any], source: str, what: str) -> None:
    """Refuse keys of ``conf`` that are not fields of ``cls``, listing the valid ones.

    Raises:
        ValueError: ``"<source>: unknown <what> setting(s) [...]; valid keys: [...]"``.
    """
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(conf) - set(valid))
    if unknown:
        raise ValueError(f"{source}: unknown {what} setting(s) {unknown}; valid keys: {valid}")


def settings_from_dict(cls: Type[T], conf: Mapping[str, Any], source: str, what: str) -> T:
    """``cls(**conf)`` with its keys checked; any error names ``source``.

    Raises:
        ValueError: an unknown key or a bad value.
    """
    check_setting_keys(cls, conf, source, what)
    try:
        return cls(**conf)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{source}: {e}") from None
