"""Tests of the shared settings-yaml helpers (espnet_tagspeech/settings.py)."""

from dataclasses import dataclass

import pytest

from espnet_tagspeech.settings import check_setting_keys, read_settings_yaml, settings_from_dict


@dataclass
class _Knobs:
    depth: int = 2
    name: str = "x"

    def __post_init__(self) -> None:
        if self.depth < 0:
            raise ValueError(f"depth must be >= 0, got {self.depth}")


def test_read_settings_yaml_reads_a_mapping_and_names_the_file_of_a_mistake(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("depth: 3\n# a comment\n")
    assert read_settings_yaml(good, "knob") == {"depth": 3}
    (tmp_path / "empty.yaml").write_text("")
    assert read_settings_yaml(tmp_path / "empty.yaml", "knob") == {}
    with pytest.raises(FileNotFoundError, match="knob config not found: .*nope.yaml"):
        read_settings_yaml(tmp_path / "nope.yaml", "knob")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match=r"list\.yaml: a knob config is a mapping of settings, got list"):
        read_settings_yaml(tmp_path / "list.yaml", "knob")
    (tmp_path / "broken.yaml").write_text("depth: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid yaml"):
        read_settings_yaml(tmp_path / "broken.yaml", "knob")


def test_unknown_keys_and_bad_values_name_the_source():
    check_setting_keys(_Knobs, {"depth": 1}, "src", "knob")
    with pytest.raises(ValueError, match=r"^src: unknown knob setting\(s\) \['deep'\]; valid keys: \['depth', 'name'\]$"):
        check_setting_keys(_Knobs, {"deep": 1, "name": "y"}, "src", "knob")
    assert settings_from_dict(_Knobs, {"depth": 4}, "src", "knob") == _Knobs(depth=4)
    with pytest.raises(ValueError, match=r"^conf\.yaml: depth must be >= 0, got -1$"):
        settings_from_dict(_Knobs, {"depth": -1}, "conf.yaml", "knob")
