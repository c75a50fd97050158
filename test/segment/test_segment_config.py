"""Tests of SegmentConfig (espnet_tagspeech/segment/config.py): one set of segmentation
settings read from yaml, flags and a packed model."""

import argparse

import pytest

from espnet_tagspeech.segment.config import SegmentConfig
from espnet_tagspeech.segment.vad import EnergySegmenter, SileroVadSegmenter
from espnet_tagspeech.segment.windows import Region, WindowConfig, make_windows


def _parse(*argv: str, base=None) -> SegmentConfig:
    p = argparse.ArgumentParser()
    SegmentConfig.add_arguments(p)
    return SegmentConfig.from_args(p.parse_args(list(argv)), base=base)


def test_defaults_are_the_window_defaults_and_it_is_a_window_config():
    conf = SegmentConfig()
    assert isinstance(conf, WindowConfig)
    window_keys = ("max_window", "merge_gap", "pad", "min_speech", "slack")
    assert {k: getattr(conf, k) for k in window_keys} == {k: getattr(WindowConfig(), k) for k in window_keys}
    # it cuts windows as the WindowConfig of the same values does
    regions = [Region(0.5, 6.0), Region(6.1, 11.0), Region(12.0, 19.0)]
    short = SegmentConfig(max_window=8.0)
    assert make_windows(regions, 20.0, "r", short) == make_windows(regions, 20.0, "r", WindowConfig(max_window=8.0))
    assert make_windows(regions, 20.0, "r", short) != make_windows(regions, 20.0, "r", conf)


def test_yaml_round_trip_and_ints_read_as_floats(tmp_path):
    path = tmp_path / "seg.yaml"
    SegmentConfig(segmenter="energy", max_window=14.0).write_yaml(path)
    assert SegmentConfig.from_yaml(path) == SegmentConfig(segmenter="energy", max_window=14.0)
    path.write_text("max_window: 14\n")
    conf = SegmentConfig.from_yaml(path)
    assert conf.max_window == 14.0 and isinstance(conf.max_window, float)
    assert SegmentConfig.from_yaml(path, pad=0.2).pad == 0.2
    (tmp_path / "empty.yaml").write_text("")
    assert SegmentConfig.from_yaml(tmp_path / "empty.yaml") == SegmentConfig()


@pytest.mark.parametrize(
    "text, message",
    [("max_windw: 3\n", "unknown segmentation setting(s) ['max_windw']"),
     ("segmenter: webrtc\n", "segmenter must be one of"),
     ("max_window: '14 s'\n", "max_window must be a float"),
     ("vad_threshold: 1.5\n", "vad_threshold must be in (0, 1)"),
     ("max_window: 0.1\npad: 0.1\n", "must exceed 2 * pad"),
     ("- 1\n- 2\n", "a segment config is a mapping"),
     ("max_window: [\n", "not valid yaml")],
)
def test_bad_yaml_names_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "seg.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        SegmentConfig.from_yaml(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_flags_win_over_the_yaml_which_replaces_the_base(tmp_path):
    path = tmp_path / "seg.yaml"
    path.write_text("segmenter: energy\nmax_window: 10\n")
    packed = SegmentConfig(max_window=14.0, pad=0.3)
    assert _parse() == SegmentConfig()
    assert _parse(base=packed) == packed  # nothing given: the packed settings
    assert _parse("--max_window", "7", base=packed) == SegmentConfig(max_window=7.0, pad=0.3)
    # a yaml given replaces the packed settings whole (as --inference_config does)
    assert _parse("--segment_config", str(path), base=packed) == SegmentConfig(segmenter="energy", max_window=10.0)
    assert _parse("--segment_config", str(path), "--max_window", "12").max_window == 12.0
    with pytest.raises(ValueError, match=r"command line: max_window \(0.1\) must exceed"):
        _parse("--max_window", "0.1")


def test_build_segmenter_passes_the_threshold():
    seg = SegmentConfig(vad_threshold=0.7).build_segmenter()
    assert isinstance(seg, SileroVadSegmenter) and seg.threshold == 0.7
    assert isinstance(SegmentConfig(segmenter="energy").build_segmenter(), EnergySegmenter)
