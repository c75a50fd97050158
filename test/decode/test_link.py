"""LinkConfig (one home of the linking settings) and linking a recording."""

import argparse

import numpy as np
import pytest

from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.decode.link import (
    LinkConfig,
    RecordingTurns,
    add_link_arguments,
    drop_small_speakers,
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


def _cut_with_stray(key: str, start: float) -> "tuple[str, float, float, object]":
    """A cut whose answer gives 4 s to speaker 1 and a 0.5-s line to a second speaker."""
    ans = serialize([Turn.from_text("r", "a", 0.0, 4.0, "we still have twelve laptops"),
                     Turn.from_text("r", "b", 4.2, 4.7, "we")])
    return key, start, start + 5, parse(ans, recording="r", offset=start)


def test_drop_speaker_sec_drops_stray_ids_with_their_lines():
    rec = RecordingTurns()
    for key, start in (("c1", 0.0), ("c2", 10.0)):
        k, s, e, parsed = _cut_with_stray(key, start)
        rec.add_cut(k, s, e, parsed, "block")
    audio = np.random.default_rng(0).standard_normal(16000 * 16).astype(np.float32)
    for s in (4.2, 14.2):  # the strays speak softly: a voice print of their own
        audio[int(s * 16000):int((s + 0.5) * 16000)] *= 0.01

    def same_voice(chunk, rate):  # loudness as the voice: the two cuts' speakers 1 alike, strays alike
        return np.array([np.log(chunk.std() + 1e-6), 0.0])

    diar, lines = link_recording(rec, audio, 16000, LinkConfig(link="fbank", linking_threshold=0.5), same_voice)
    # each cut's two speakers stay apart: the strays of both cuts form a second speaker of 1 s
    assert sorted({t.speaker for t in diar}) == ["spk1", "spk2"]
    config = LinkConfig(link="fbank", linking_threshold=0.5, drop_speaker_sec=1.5)
    diar, lines = link_recording(rec, audio, 16000, config, same_voice)
    assert {t.speaker for t in diar} == {t.speaker for t in lines} == {"spk1"}
    assert [t.text for t in lines] == ["we still have twelve laptops"] * 2
    # an oracle speaker count keeps every speaker
    diar, _ = link_recording(rec, audio, 16000, config, same_voice, num_speakers=2)
    assert len({t.speaker for t in diar}) == 2


def test_drop_small_speakers_keeps_the_largest():
    diar = [Turn.from_text("r", "spk1", 0.0, 1.0, ""), Turn.from_text("r", "spk1", 0.5, 1.2, ""),
            Turn.from_text("r", "spk2", 2.0, 2.9, "")]
    lines = [Turn.from_text("r", "spk1", 0.0, 1.2, "hi there"), Turn.from_text("r", "spk2", 2.0, 2.9, "yo")]
    d, t = drop_small_speakers(diar, lines, 1.0)  # spk1: 1.2 s as a union of its turns
    assert {x.speaker for x in d} == {x.speaker for x in t} == {"spk1"}
    d, t = drop_small_speakers(diar, lines, 5.0)  # both short: the one with most speech stays
    assert [x.text for x in t] == ["hi there"] and len(d) == 2
    with pytest.raises(ValueError, match="drop_speaker_sec must be >= 0"):
        LinkConfig(drop_speaker_sec=-1)
    with pytest.raises(ValueError, match="min_member_sec must be >= 0"):
        LinkConfig(min_member_sec=-0.5)
    with pytest.raises(ValueError, match=r"min_speaker_frac must be in \[0, 0.5\)"):
        LinkConfig(min_speaker_frac=0.7)


def test_the_recipes_link_configs_load_and_the_fold_scales_with_long_meetings():
    """conf/link_*.yaml parse; the LLM's linking folds stray speakers under 3 s, 2 % of a long
    meeting's speech (chosen on dev-voice meetings of 30 and 60 minutes)."""
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "conf"
    lines = LinkConfig.from_yaml(conf / "link_lines.yaml")
    assert lines.link_unit == "line" and lines.min_speaker_frac == 0.0
    speakers = LinkConfig.from_yaml(conf / "link_speakers.yaml")
    assert (speakers.link, speakers.link_unit) == ("resemblyzer", "speaker")
    assert (speakers.min_speaker_sec, speakers.min_speaker_frac) == (3.0, 0.02)


def test_recording_voices_print_each_speaker_where_it_talks_alone():
    from espnet_tagspeech.decode.link import recording_voices

    rate = 100
    audio = np.zeros(1000, np.float32)
    audio[0:400] = 1.0  # spk1 alone
    audio[400:500] = 5.0  # spk1 and spk2 together
    audio[500:1000] = 2.0  # spk2 alone
    lines = [Turn("r", "spk1", 0.0, 5.0), Turn("r", "spk2", 4.0, 10.0)]
    asked = []

    def embed(chunk, sr):  # a 2-d print: mean level and length, to see what was read
        asked.append(len(chunk))
        return np.array([float(np.mean(chunk)), 0.0])

    voices = recording_voices(lines, audio, rate, embed)
    assert sorted(voices) == ["spk1", "spk2"] and asked == [400, 500]  # the overlap is left out
    assert voices["spk1"] == pytest.approx([1.0, 0.0])  # unit prints
    # a speaker with less lone speech than min_alone is printed over all of its lines
    asked.clear()
    recording_voices(lines, audio, rate, embed, min_alone=5.5)
    assert asked == [500, 600]
