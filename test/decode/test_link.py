"""LinkConfig (one home of the linking settings) and linking a recording."""

import argparse

import pytest

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.decode.link import (
    LinkConfig,
    RecordingTurns,
    add_link_arguments,
    link_config_from_args,
    link_recording,
)
from espnet_tagspeech.serialization import parse, serialize


def test_yaml_keys_values_and_flags(tmp_path):
    conf = tmp_path / "link.yaml"
    conf.write_text("link: fbank\nlinking_threshold: 0.6\n")
    assert LinkConfig.from_yaml(conf).linking_threshold == 0.6
    conf.write_text("link: fbank\nlinking_treshold: 0.6\n")
    with pytest.raises(ValueError, match=r"link.yaml: unknown link setting\(s\) \['linking_treshold'\]"):
        LinkConfig.from_yaml(conf)
    with pytest.raises(ValueError, match="link_unit must be one of"):
        LinkConfig(link_unit="word")
    p = argparse.ArgumentParser()
    add_link_arguments(p)
    conf.write_text("link: none\nlinking_threshold: 0.6\n")
    cfg = link_config_from_args(p.parse_args(["--config", str(conf), "--linking_threshold", "0.9"]))
    assert cfg.link == "none" and cfg.linking_threshold == 0.9  # the flag wins over the yaml


def test_cuts_keep_their_speakers_apart_without_linking():
    rec = RecordingTurns()
    for key, start in (("c1", 10.0), ("c2", 20.0)):
        ans = serialize([Turn.from_text("r", "a", 0.0, 1.0, "hi"), Turn.from_text("r", "b", 1.0, 2.0, "yo")])
        rec.add_cut(key, start, start + 5, parse(ans, recording="r", offset=start), "block")
    diar, lines = link_recording(rec, None, 16000, LinkConfig(link="none"))
    assert sorted({t.speaker for t in diar}) == ["c1|1", "c1|2", "c2|1", "c2|2"]
    assert [t.start for t in lines] == [10.0, 11.0, 20.0, 21.0]
    assert rec.cut_of["c2|1"] == "c2"
    with pytest.raises(ValueError, match="needs the recording's audio"):
        link_recording(rec, None, 16000, LinkConfig(link="fbank"))
