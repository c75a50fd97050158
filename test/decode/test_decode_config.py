"""DecodeConfig: one declaration of every decoding setting, read by yaml, CLI and from_pretrained."""

import argparse
import dataclasses
from pathlib import Path

import pytest

from espnet_tagspeech.decode.config import CTC_LINE_SETTINGS, CTC_TEXT_SETTINGS, LLM_TEXT_SETTINGS, DecodeConfig

REPO = Path(__file__).resolve().parents[2]
DECODE_YAMLS = sorted([*REPO.glob("conf/decode_*.yaml"), *REPO.glob("egs2/*/tagspeech1/conf/decode*.yaml")])


def test_defaults_are_the_papers_greedy_llm_decoding():
    conf = DecodeConfig()
    assert (conf.text_from, conf.beam_size, conf.max_new_tokens) == ("llm", 1, 800)
    assert not conf.speaker_constraint and conf.ctc_word_bias == 0 and conf.ngram_file is None


def test_every_setting_has_a_one_line_help():
    for name in DecodeConfig.keys():
        text = DecodeConfig.help(name)
        assert text and "\n" not in text, name


@pytest.mark.parametrize("path", DECODE_YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_decode_yaml_of_the_repo_loads(path):
    # tagspeech.sh adds stage 4's n-gram LM to every decoding, as here
    conf = DecodeConfig.from_yaml(path, ngram_file="dump/tokenizer/ngram.json")
    assert conf.text_from in ("llm", "ctc")


def test_the_mini_recipes_two_decodings():
    conf_dir = REPO / "egs2" / "mini_meeting" / "tagspeech1" / "conf"
    llm = DecodeConfig.from_yaml(conf_dir / "decode_mini.yaml", ngram_file="ngram.json")
    assert (llm.text_from, llm.speaker_constraint, llm.ctc_word_bias, llm.max_new_tokens) == ("llm", True, 3.0, 600)
    # the LLM's search fused with the CTC head's lines (times, words in order), as the cascade cuts them
    fused = (llm.ctc_time_bias, llm.ctc_order_bias, llm.time_constraint, llm.speaker_merge_bias)
    assert fused == (8.0, 10.0, True, 2.0)
    assert llm.ctc_skip_penalty == 8.0  # CTC lines and words passed over lose: fewer lines left out
    # the voice fused in the block: resemblyzer's prints
    assert (llm.speaker_voice_bias, llm.speaker_voice_threshold, llm.speaker_voice_from) == (100.0, 0.78, "resemblyzer")
    assert llm.speaker_max_overlap is None  # measured worse on mini dev: off
    assert llm.speaker_voice_passes == 2  # the second decoding weighs lines against the recording's voices
    assert (llm.ctc_beam_size, llm.lm_weight, llm.token_bonus, llm.max_word_gap) == (64, 0.3, 2.5, 1.0)
    alone = DecodeConfig.from_yaml(conf_dir / "decode_mini_no_fusion.yaml")
    assert alone.text_from == "llm" and (alone.ctc_time_bias, alone.ctc_order_bias) == (0.0, 0.0)
    cascade = DecodeConfig.from_yaml(conf_dir / "decode_tagspeech_ctc_text.yaml", ngram_file="ngram.json")
    assert cascade.text_from == "ctc" and (cascade.ctc_beam_size, cascade.lm_weight) == (64, 0.3)
    # the LLM is fused with the cascade's own CTC lines: one beam search, one LM weight
    assert (llm.ctc_beam_size, llm.lm_weight, llm.token_bonus, llm.max_word_gap) == (
        cascade.ctc_beam_size, cascade.lm_weight, cascade.token_bonus, cascade.max_word_gap)
    assert (cascade.max_word_gap, cascade.voice_split, cascade.ctc_start_pad, cascade.ctc_end_pad) == (
        1.0, 0.12, 0.1, 0.35)


def test_unknown_keys_are_refused_with_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"my source: unknown decoding setting\(s\) \['beam', 'nbest'\]; "
                                         r"valid keys: \['batch_size', 'max_new_tokens', 'beam_size'"):
        DecodeConfig.from_dict({"beam": 2, "nbest": 1, "beam_size": 2}, "my source")
    path = tmp_path / "decode.yaml"
    path.write_text("max_new_tokens: 10\nctc_weight: 0.3\n")
    with pytest.raises(ValueError, match=rf"{path}: unknown decoding setting\(s\) \['ctc_weight'\]"):
        DecodeConfig.from_yaml(path)
    with pytest.raises(ValueError, match=r"overrides: unknown decoding setting\(s\) \['beams'\]"):
        DecodeConfig.from_yaml(_write(tmp_path, "ok.yaml", ""), beams=2)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_a_yaml_that_is_not_a_mapping_or_missing_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"list\.yaml: a decoding config is a mapping"):
        DecodeConfig.read_yaml(_write(tmp_path, "list.yaml", "- beam_size\n"))
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid yaml"):
        DecodeConfig.read_yaml(_write(tmp_path, "broken.yaml", "beam_size: [1\n"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        DecodeConfig.read_yaml(tmp_path / "nope.yaml")
    assert DecodeConfig.from_yaml(_write(tmp_path, "empty.yaml", "")) == DecodeConfig()


@pytest.mark.parametrize("settings,message", [
    ({"beam_size": 0}, "beam_size must be >= 1"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be an int, got 2.5"),
    ({"beam_size": True}, "beam_size must be an int, got True"),
    ({"speaker_constraint": "yes"}, "speaker_constraint must be a bool"),
    ({"text_from": "asr"}, r"text_from must be one of \['llm', 'ctc'\], got 'asr'"),
    ({"ctc_word_bias": -1}, "ctc_word_bias must be >= 0"),
    ({"text_from": "ctc", "voice_split": 0}, "voice_split must be positive"),
    ({"text_from": "ctc", "max_word_gap": "1s"}, "max_word_gap must be a float or none"),
    ({"text_from": "ctc", "ctc_start_pad": -0.1}, "ctc_start_pad must be >= 0"),
    ({"text_from": "ctc", "lm_weight": 0.5}, "lm_weight 0.5 needs ngram_file"),
    ({"speaker_voice_passes": 3}, "speaker_voice_passes must be 1 or 2, got 3"),
    ({"speaker_voice_passes": 2}, "speaker_voice_passes 2 feeds speaker_voice_bias: set it > 0"),
])
def test_bad_values_name_their_key(settings, message):
    with pytest.raises(ValueError, match=f"^conf.yaml: {message}"):
        DecodeConfig.from_dict(settings, "conf.yaml")


@pytest.mark.parametrize("name", CTC_TEXT_SETTINGS)
def test_cascade_settings_are_refused_when_the_llm_writes_the_text(name):
    value = {"ctc_beam_size": 4, "speaker_from": "lines"}.get(name, 1.0)
    with pytest.raises(ValueError, match=f"{name} applies only with text_from ctc"):
        DecodeConfig(**{name: value, "ngram_file": "lm.json"})
    DecodeConfig(text_from="ctc", ngram_file="lm.json", **{name: value})  # fine for the cascade


@pytest.mark.parametrize("name", LLM_TEXT_SETTINGS)
def test_answer_search_settings_are_refused_when_the_ctc_head_writes_the_text(name):
    value = {"speaker_constraint": True, "speaker_every_line": True, "time_constraint": True,
             "no_repeat_words": 3, "speaker_voice_from": "resemblyzer", "speaker_voice_passes": 2}.get(name, 3.0)
    with pytest.raises(ValueError, match=f"{name} applies only with text_from llm"):
        DecodeConfig(text_from="ctc", **{name: value})


@pytest.mark.parametrize("name", CTC_LINE_SETTINGS)
def test_ctc_time_bias_reads_how_the_ctc_lines_are_cut(name):
    value = {"ctc_beam_size": 4}.get(name, 1.0)
    conf = DecodeConfig(ctc_time_bias=4.0, ngram_file="lm.json", **{name: value})
    assert getattr(conf, name) == value and conf.text_from == "llm"
    with pytest.raises(ValueError, match=f"{name} applies only with text_from ctc"):
        DecodeConfig(ngram_file="lm.json", **{name: value})  # no time bias: not read


def test_time_bias_and_every_line_are_checked():
    with pytest.raises(ValueError, match="ctc_time_bias must be >= 0"):
        DecodeConfig(ctc_time_bias=-1.0)
    with pytest.raises(ValueError, match="voice_split applies only with text_from ctc"):
        DecodeConfig(ctc_time_bias=4.0, voice_split=0.1)  # lines are cut by the CTC head alone
    with pytest.raises(ValueError, match="speaker_every_line needs speaker_constraint"):
        DecodeConfig(speaker_every_line=True)
    with pytest.raises(ValueError, match="ctc_order_bias follows the CTC lines of ctc_time_bias"):
        DecodeConfig(ctc_order_bias=2.0)
    with pytest.raises(ValueError, match="ctc_end_bias ends the CTC line that ctc_order_bias follows"):
        DecodeConfig(ctc_time_bias=4.0, ctc_end_bias=2.0)
    with pytest.raises(ValueError, match="ctc_end_bias must be >= 0"):
        DecodeConfig(ctc_time_bias=4.0, ctc_order_bias=2.0, ctc_end_bias=-1.0)
    with pytest.raises(ValueError, match="speaker_merge_bias needs speaker_constraint"):
        DecodeConfig(speaker_merge_bias=1.0)
    with pytest.raises(ValueError, match="speaker_merge_bias must be >= 0"):
        DecodeConfig(speaker_constraint=True, speaker_merge_bias=-1.0)
    assert DecodeConfig(speaker_constraint=True, speaker_every_line=True).speaker_every_line
    with pytest.raises(ValueError, match="speaker_voice_bias needs speaker_constraint"):
        DecodeConfig(speaker_voice_bias=10.0)
    with pytest.raises(ValueError, match="speaker_voice_threshold is a cosine similarity"):
        DecodeConfig(speaker_constraint=True, speaker_voice_bias=10.0, speaker_voice_threshold=1.5)
    with pytest.raises(ValueError, match="speaker_voice_bias applies only with text_from llm"):
        DecodeConfig(text_from="ctc", speaker_voice_bias=10.0)
    # 0 s is a limit (no overlap at all), not "off": it too needs the constraint
    with pytest.raises(ValueError, match="speaker_max_overlap needs speaker_constraint"):
        DecodeConfig(speaker_max_overlap=0.0)
    with pytest.raises(ValueError, match="speaker_max_overlap must be >= 0"):
        DecodeConfig(speaker_constraint=True, speaker_max_overlap=-0.5)
    assert DecodeConfig(speaker_constraint=True, speaker_max_overlap=0).speaker_max_overlap == 0.0
    with pytest.raises(ValueError, match="speaker_voice_from 'resemblyzer' is read by speaker_voice_bias"):
        DecodeConfig(speaker_constraint=True, speaker_voice_from="resemblyzer")
    with pytest.raises(ValueError, match="speaker_voice_from must be one of"):
        DecodeConfig(speaker_constraint=True, speaker_voice_bias=1.0, speaker_voice_from="ecapa")


def test_no_repeat_words_must_not_be_negative():
    assert DecodeConfig(no_repeat_words=3).no_repeat_words == 3
    with pytest.raises(ValueError, match="no_repeat_words must be >= 0"):
        DecodeConfig(no_repeat_words=-1)


def test_values_are_normalised():
    conf = DecodeConfig(text_from="ctc", ctc_start_pad=1, max_word_gap=2, ngram_file=Path("a/lm.json"))
    assert isinstance(conf.ctc_start_pad, float) and isinstance(conf.max_word_gap, float)
    assert conf.ngram_file == "a/lm.json"
    assert DecodeConfig.from_dict(conf.to_dict()) == conf
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.beam_size = 2  # type: ignore[misc]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    DecodeConfig.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_are_made_from_the_fields_and_win_over_the_yaml(tmp_path):
    args = _parse()
    assert DecodeConfig.given(args) == {} and DecodeConfig.from_args(args) == DecodeConfig()
    yaml_path = _write(tmp_path, "d.yaml", "text_from: ctc\nmax_word_gap: 1.0\nctc_beam_size: 8\n")
    args = _parse("--config", str(yaml_path), "--max_word_gap", "none", "--ctc_beam_size", "4",
                  "--ngram_file", "lm.json", "--lm_weight", "0.5")
    conf = DecodeConfig.from_args(args)
    assert (conf.max_word_gap, conf.ctc_beam_size, conf.lm_weight, conf.ngram_file) == (None, 4, 0.5, "lm.json")
    assert DecodeConfig.from_args(_parse("--speaker_constraint", "true")).speaker_constraint is True
    assert DecodeConfig.from_args(_parse("--speaker_constraint", "false")).speaker_constraint is False


def test_every_field_has_a_flag_with_its_help():
    parser = argparse.ArgumentParser()
    DecodeConfig.add_arguments(parser)
    helps = {a.dest: a.help for a in parser._actions}
    for name in DecodeConfig.keys():
        assert helps[name].startswith(DecodeConfig.help(name)), name


def test_flag_errors_exit_with_a_message(capsys):
    for argv in (["--beam_size", "two"], ["--speaker_constraint", "maybe"], ["--text_from", "asr"]):
        with pytest.raises(SystemExit):
            _parse(*argv)
        assert f"argument {argv[0]}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="^command line: beam_size must be >= 1"):
        DecodeConfig.from_args(_parse("--beam_size", "0"))
