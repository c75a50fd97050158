"""Speech2Tags and the decoding CLI on a random-init tiny model.

(The overfit test in test/tasks/test_overfit.py checks exact target decoding
after training; here outputs are arbitrary but must be consistent.)"""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_tagspeech.data.errors import DataFormatError
from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

# A sharp random LLM gives varied greedy outputs (no near-ties), so batched vs
# single decoding is a real comparison.
SHARP = {"llm_conf": {"config": {"initializer_range": 0.5}}}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    work = tmp_path_factory.mktemp("inf")
    cuts, cfg = setup_tiny(str(work), num_cuts=4, overrides=SHARP)
    torch.manual_seed(1)
    model = TagSpeechTask.build_model(args_from_config(cfg))
    (work / "exp").mkdir()
    torch.save(model.state_dict(), work / "exp" / "model.pth")
    return work, cuts, cfg


@pytest.fixture(scope="module")
def s2t(packed):
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, _, cfg = packed
    return Speech2Tags(cfg, work / "exp" / "model.pth", decode_config={"max_new_tokens": 24})


def _one(s2t, wav, key="utt"):
    return s2t.batch([wav], keys=[key])[0]


def _spy_processors(s2t, monkeypatch):
    """The list the logits processors of every later ``generate`` call are added to."""
    seen = []
    real = s2t.model.llm.generate

    def spy(*args, logits_processor=None, **kw):
        seen.extend(logits_processor or [])
        return real(*args, logits_processor=logits_processor, **kw)

    monkeypatch.setattr(s2t.model.llm, "generate", spy)
    return seen


def _time_ordered_model(packed, tmp_path, seed=None):
    """The tiny model with a time-ordered (t-SOT) CTC head: ``(config, weights)`` under ``tmp_path``."""
    import yaml

    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    _, _, cfg = packed
    conf = yaml.safe_load(Path(cfg).read_text())
    conf["model_conf"] = {**(conf.get("model_conf") or {}), "ctc_order": "time", "ctc_embed": True}
    tcfg = tmp_path / "time.yaml"
    tcfg.write_text(yaml.safe_dump(conf))
    if seed is not None:
        torch.manual_seed(seed)
    torch.save(TagSpeechTask.build_model(args_from_config(str(tcfg))).state_dict(), tmp_path / "m.pth")
    return tcfg, tmp_path / "m.pth"


def test_batch_equals_one_by_one(packed, s2t):
    _, cuts, _ = packed
    keys = list(cuts)
    singles = [_one(s2t, cuts[k][0], k).text for k in keys]
    batched = s2t.batch([cuts[k][0] for k in keys], keys=keys)
    assert [r.text for r in batched] == singles
    assert len(set(singles)) > 1  # the outputs do depend on the audio


def test_beam_search_batch_equals_one_by_one(packed, s2t):
    _, cuts, _ = packed
    keys = list(cuts)[:3]
    greedy = s2t.decode_config
    s2t.decode_config = replace(greedy, beam_size=3)
    try:
        singles = [_one(s2t, cuts[k][0], k).text for k in keys]
        batched = [r.text for r in s2t.batch([cuts[k][0] for k in keys], keys=keys)]
    finally:
        s2t.decode_config = greedy
    assert batched == singles


@pytest.mark.parametrize(
    "wav,fs,message",
    [
        (np.zeros(1600, np.float32), 8000, "sample rate 8000"),
        (np.zeros((1600, 2), np.float32), 16000, "not mono"),
        (np.zeros(0, np.float32), 16000, "empty audio"),
        (np.full(1600, np.nan, np.float32), 16000, "NaN"),
    ],
)
def test_bad_audio_errors_name_the_key(s2t, wav, fs, message):
    if fs == 16000:  # a bad item among good ones is named
        with pytest.raises(DataFormatError, match=f"bad1: .*{message}"):
            s2t.batch([np.zeros(1600, np.float32), wav], keys=["ok", "bad1"])
    with pytest.raises(DataFormatError, match=f"bad1: .*{message}"):
        s2t.batch([wav], fs=fs, keys=["bad1"])


def test_from_pretrained_zip_decodes_the_same(packed, s2t, monkeypatch, tmp_path):
    from espnet_tagspeech.decode.packed import pack_model
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, cuts, _ = packed
    monkeypatch.chdir(work)  # packed paths are relative to the recipe dir
    import yaml

    cfg = yaml.safe_load(Path("config.yaml").read_text())
    cfg["llm_conf"]["tokenizer"] = "token/tokenizer.model"
    Path("exp/config.yaml").write_text(yaml.safe_dump(cfg))
    pack_model("exp/packed.zip", "exp/config.yaml", "exp/model.pth", ["token/tokenizer.model"])
    loaded = Speech2Tags.from_pretrained(work / "exp" / "packed.zip", cache_dir=tmp_path / "cache",
                                         max_new_tokens=24)
    wav = cuts["cut2"][0]
    assert _one(loaded, wav).text == _one(s2t, wav).text
    with pytest.raises(FileNotFoundError, match="meta.yaml"):
        Speech2Tags.from_pretrained(tmp_path)


def test_cli_writes_text_rttm_seglst(packed, tmp_path):
    from espnet_tagspeech.bin.tagspeech_inference import main
    from espnet_tagspeech.serialization import line_to_target

    work, cuts, cfg = packed
    keys = tmp_path / "keys"
    keys.write_text("cut3\ncut1\n")
    out = tmp_path / "out"
    assert main([
        "--data_path_and_name_and_type", f"{work}/data/wav.scp,speech,sound",
        "--key_file", str(keys), "--output_dir", str(out), "--batch_size", "2",
        "--train_config", cfg, "--model_file", str(work / "exp" / "model.pth"),
        "--max_new_tokens", "24",
    ]) == 0
    lines = (out / "text").read_text().splitlines()
    assert [ln.split(" ", 1)[0] for ln in lines] == ["cut3", "cut1"]
    assert all("\n" not in ln for ln in lines)
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    direct = _one(Speech2Tags(cfg, work / "exp" / "model.pth", decode_config={"max_new_tokens": 24}),
                  cuts["cut1"][0])
    assert line_to_target(lines[1].split(" ", 1)[1]) == direct.text
    assert isinstance(json.loads((out / "hyp.seglst.json").read_text()), list)
    assert (out / "rttm").exists()
    keys.write_text("nope\n")  # an unknown key: named, exit 1, the earlier outputs untouched
    before = (out / "text").read_text()
    assert main([
        "--data_path_and_name_and_type", f"{work}/data/wav.scp,speech,sound",
        "--key_file", str(keys), "--output_dir", str(out),
        "--train_config", cfg, "--model_file", str(work / "exp" / "model.pth"),
    ]) == 1
    assert (out / "text").read_text() == before


def test_cli_reads_the_decode_config():
    from espnet_tagspeech.bin.tagspeech_inference import get_parser
    from espnet_tagspeech.decode.config import DecodeConfig

    conf = Path(__file__).resolve().parents[2] / "conf" / "decode_tagspeech.yaml"
    args = get_parser().parse_args([
        "--config", str(conf), "--data_path_and_name_and_type", "w.scp,speech,sound",
        "--output_dir", "out", "--beam_size", "4",
    ])
    config = DecodeConfig.from_args(args)
    assert config.max_new_tokens == 800 and config.batch_size == 1
    assert config.beam_size == 4  # the command line wins over the config


@pytest.mark.parametrize("setting,message", [
    ("beem_size: 4", r"bad\.yaml: unknown decoding setting\(s\) \['beem_size'\]; valid keys: \[.*'beam_size'"),
    ("lm_weight: 0.3", r"bad\.yaml: lm_weight applies only with text_from ctc"),
    ("beam_size: four", r"bad\.yaml: beam_size must be an int, got 'four'"),
])
def test_cli_refuses_a_bad_decode_yaml_by_key_without_a_traceback(packed, tmp_path, capsys, setting, message):
    from espnet_tagspeech.bin.tagspeech_inference import main

    work, _, cfg = packed
    (tmp_path / "bad.yaml").write_text(f"max_new_tokens: 24\n{setting}\n")
    with pytest.raises(SystemExit) as stop:
        main(["--data_path_and_name_and_type", f"{work}/data/wav.scp,speech,sound",
              "--output_dir", str(tmp_path / "out"), "--config", str(tmp_path / "bad.yaml"),
              "--train_config", cfg, "--model_file", str(work / "exp" / "model.pth")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_settings_the_model_cannot_do_are_refused_by_key(packed, tmp_path):
    from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, _, cfg = packed
    model = work / "exp" / "model.pth"
    with pytest.raises(ValueError, match="text_from must be one of"):
        Speech2Tags(cfg, model, decode_config={"text_from": "lm"})
    with pytest.raises(ValueError, match="text_from 'ctc': the model has no CTC head"):
        Speech2Tags(cfg, model, decode_config={"text_from": "ctc"})
    with pytest.raises(ValueError, match="ctc_word_bias: the model has no CTC head"):
        Speech2Tags(cfg, model, decode_config={"ctc_word_bias": 3.0})
    with pytest.raises(ValueError, match="ctc_time_bias: the model has no CTC head"):
        Speech2Tags(cfg, model, decode_config={"ctc_time_bias": 3.0})
    TokenNgramLM.train([[1, 2]], 2, vocab_size=5).save(tmp_path / "lm.json")
    with pytest.raises(ValueError, match="ngram_file .*lm.json: LM of 5 tokens"):
        Speech2Tags(cfg, model, decode_config={"ngram_file": str(tmp_path / "lm.json")})


def test_time_ordered_head_writes_the_text_block(packed, tmp_path):
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    tcfg, _ = _time_ordered_model(packed, tmp_path)
    wav = (0.01 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    for split in (None, 0.1):
        s2t = Speech2Tags(tcfg, tmp_path / "m.pth", decode_config=dict(
            text_from="ctc", max_new_tokens=5, voice_split=split, ctc_beam_size=3))
        res = _one(s2t, wav)
        assert res.text.startswith("<text>\n") and "</text>\n" in res.text  # CTC block, then the LLM


def test_cascade_without_the_llm_gives_each_ctc_line_its_own_speaker(packed, tmp_path, monkeypatch):
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.serialization import parse

    tcfg, _ = _time_ordered_model(packed, tmp_path, seed=1)
    both = Speech2Tags(tcfg, tmp_path / "m.pth", decode_config=dict(text_from="ctc", max_new_tokens=5))
    alone = Speech2Tags(tcfg, tmp_path / "m.pth", decode_config=dict(text_from="ctc", speaker_from="lines"))
    for s in (both, alone):  # the CTC head hears one word all along: a line to give a speaker to
        with torch.no_grad():
            s.model.ctc_head.weight.zero_()
            s.model.ctc_head.bias.fill_(-5.0)
            s.model.ctc_head.bias[s.model.llm.tokenizer.encode("okay")[0]] = 5.0
    wav = (0.3 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    with_llm = _one(both, wav).text

    def never(*args, **kw):
        raise AssertionError("the LLM ran")

    monkeypatch.setattr(alone.model.llm, "generate", never)
    res = _one(alone, wav)
    block = res.text[: res.text.index("</text>")]
    assert block == with_llm[: with_llm.index("</text>")] and re.search(r"\n0\.00-\d\.\d\d>\w", block)
    parsed = parse(res.text)
    assert parsed.warnings == [] and res.warnings == []
    assert [t.speaker for t in parsed.turns] == [str(i + 1) for i in range(len(parsed.turns))]
    assert [(t.start, t.end) for t in parsed.speaker_turns] == [(t.start, t.end) for t in parsed.turns]


def test_ctc_time_bias_gives_the_llm_search_the_ctc_lines(packed, tmp_path, monkeypatch):
    from espnet_tagspeech.decode.answer_search import CtcTimeBias
    from espnet_tagspeech.decode.speaker_block import SpeakerBlockConstraint
    from espnet_tagspeech.decode.ctc.alignment import ctc_lines
    from espnet_tagspeech.decode.speech2tags import Speech2Tags, ctc_log_posteriors

    tcfg, _ = _time_ordered_model(packed, tmp_path, seed=1)
    s2t = Speech2Tags(tcfg, tmp_path / "m.pth", decode_config=dict(
        max_new_tokens=6, ctc_time_bias=4.0, speaker_constraint=True, speaker_every_line=True,
        ctc_end_pad=0.2))
    seen = _spy_processors(s2t, monkeypatch)
    head = s2t.model.ctc_head  # the CTC head hears one word all along: one line
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-5.0)
        head.bias[s2t.model.llm.tokenizer.encode("okay")[0]] = 5.0
    wav = (0.3 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    _one(s2t, wav)
    (bias,) = [p for p in seen if isinstance(p, CtcTimeBias)]
    (con,) = [p for p in seen if isinstance(p, SpeakerBlockConstraint)]
    assert bias.weight == 4.0 and con.every_line
    # the lines are the CTC head's own, cut with the config's pads
    model = s2t.model
    lp = ctc_log_posteriors(model, torch.from_numpy(wav)[None], torch.tensor([len(wav)]))[0]
    turns = ctc_lines(lp, model.llm.tokenizer, model.semantic_encoder.frame_shift,
                      model.ctc_channels, 0.0, 0.2)
    assert turns and bias.lines == [sorted((f"{t.start:.2f}", f"{t.end:.2f}", len(t.words)) for t in turns)]


def test_speaker_voice_bias_reads_each_inputs_speaker_stream(packed, monkeypatch):
    from espnet_tagspeech.decode.speaker_block import SpeakerVoiceBias
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, _, cfg = packed
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config=dict(
        max_new_tokens=4, batch_size=2, speaker_constraint=True, speaker_voice_bias=30.0,
        speaker_voice_threshold=0.9))
    seen = _spy_processors(s2t, monkeypatch)
    rng = np.random.default_rng(0)
    wavs = [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 24000)]
    s2t.batch(wavs, keys=["a", "b"])
    (bias,) = [p for p in seen if isinstance(p, SpeakerVoiceBias)]
    assert (bias.weight, bias.threshold) == (30.0, 0.9)
    enc = s2t.model.speaker_encoder
    assert bias.frame_shift == enc.frame_shift
    for wav, frames in zip(wavs, bias.frames):  # each input's own frames, padding cut off
        with torch.no_grad():
            own, _ = enc(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
        assert frames.shape == tuple(own[0].shape)
        np.testing.assert_allclose(frames, own[0].numpy(), atol=1e-4)


def test_speaker_voice_from_resemblyzer_prints_each_inputs_own_audio(packed, monkeypatch):
    from espnet_tagspeech.decode.speaker_block import SpeakerVoiceBias
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.decode.voices import ResemblyzerEmbedder

    work, _, cfg = packed
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config=dict(
        max_new_tokens=4, batch_size=2, speaker_constraint=True, speaker_voice_bias=100.0,
        speaker_voice_threshold=0.8, speaker_voice_from="resemblyzer"))
    seen = _spy_processors(s2t, monkeypatch)
    rng = np.random.default_rng(0)
    wavs = [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 24000)]
    wavs[1][8000:16000] = 0.3 * np.sin(2 * np.pi * 220 * np.arange(8000) / 16000)  # another "voice"
    s2t.batch(wavs, keys=["a", "b"])
    (bias,) = [p for p in seen if isinstance(p, SpeakerVoiceBias)]
    assert bias.frames == [] and bias.embed is not None  # no speaker-stream frames read
    encoder = s2t._voice_encoder
    assert isinstance(encoder, ResemblyzerEmbedder)
    # a print is the GE2E embedding of that input's audio over the spans, the pieces joined
    got = bias.embed(1, [(0.0, 0.5), (1.0, 1.5)])
    want = encoder(np.concatenate([wavs[1][:8000], wavs[1][16000:24000]]), 16000)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(bias.embed(0, [(0.0, 0.5)]), bias.embed(1, [(0.5, 1.0)]), atol=1e-3)
    s2t.batch(wavs[:1], keys=["a"])
    assert s2t._voice_encoder is encoder  # loaded once


def test_each_encoder_runs_once_per_batch_of_the_llm_search(packed, tmp_path, monkeypatch):
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    tcfg, _ = _time_ordered_model(packed, tmp_path, seed=1)
    s2t = Speech2Tags(tcfg, tmp_path / "m.pth", decode_config=dict(
        max_new_tokens=6, ctc_time_bias=4.0, ctc_word_bias=3.0, speaker_constraint=True,
        speaker_voice_bias=30.0))
    calls = {"semantic": 0, "speaker": 0}
    for name in calls:
        enc = getattr(s2t.model, f"{name}_encoder")

        def counted(*args, _real=enc.forward, _name=name, **kw):
            calls[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(enc, "forward", counted)
    rng = np.random.default_rng(0)
    wavs = [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 24000, 20000)]
    s2t.batch(wavs, keys=["a", "b", "c"])  # one batch
    # the CTC lines, the voice prints and the LLM's prompts share one pass of each encoder
    assert calls == {"semantic": 1, "speaker": 1}


def test_from_pretrained_takes_the_packed_decode_config_and_lm(packed, monkeypatch, tmp_path):
    import yaml

    from espnet_tagspeech.bin.pack import main as pack
    from espnet_tagspeech.decode.ctc.ngram import TokenNgramLM
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, _, _ = packed
    monkeypatch.chdir(work)
    cfg = yaml.safe_load(Path("config.yaml").read_text())
    cfg["llm_conf"]["tokenizer"] = "token/tokenizer.model"
    Path("exp/config.yaml").write_text(yaml.safe_dump(cfg))
    vocab = int(Path("token/vocab_size").read_text())
    TokenNgramLM.train([[1, 2, 3]], 2, vocab).save("exp/ngram.json")
    Path("exp/decode.yaml").write_text("batch_size: 3\nmax_new_tokens: 7\nbeam_size: 2\n")
    assert pack(["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth",
                 "--tokenizer", "token/tokenizer.model", "--ngram", "exp/ngram.json",
                 "--inference_config", "exp/decode.yaml", "--outpath", "exp/lm.zip"]) == 0
    zipped = work / "exp" / "lm.zip"
    conf = Speech2Tags.from_pretrained(zipped, cache_dir=tmp_path / "c").decode_config
    assert (conf.batch_size, conf.max_new_tokens, conf.beam_size) == (3, 7, 2)
    assert Path(conf.ngram_file).name == "ngram.json"
    s2t = Speech2Tags.from_pretrained(zipped, cache_dir=tmp_path / "c", max_new_tokens=9)
    assert s2t.decode_config.max_new_tokens == 9 and s2t.decode_config.beam_size == 2  # overrides win
    assert s2t.ngram is not None and s2t.ngram.vocab_size == vocab
    # a decode config given replaces the packed one (the packed LM stays)
    own = Speech2Tags.from_pretrained(zipped, cache_dir=tmp_path / "c", decode_config={"max_new_tokens": 5})
    assert (own.decode_config.beam_size, own.decode_config.max_new_tokens) == (1, 5) and own.ngram is not None
    with pytest.raises(ValueError, match=r"from_pretrained overrides: unknown decoding setting\(s\) "
                                         r"\['max_tokens'\]; valid keys: \[.*'max_new_tokens'"):
        Speech2Tags.from_pretrained(zipped, cache_dir=tmp_path / "c", max_tokens=9)
    with pytest.raises(ValueError, match=r"decode\.yaml with overrides \['beam_size'\]: beam_size must be >= 1"):
        Speech2Tags.from_pretrained(zipped, cache_dir=tmp_path / "c", beam_size=0)


def test_from_pretrained_takes_the_packed_segment_config(packed, monkeypatch, tmp_path):
    """The windows the recipe's results were measured on travel in the zip: a whole meeting
    decoded from the zip is cut as stage 3 cut the test set; a config given wins."""
    import yaml

    from espnet_tagspeech.bin.pack import main as pack
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.segment.config import SegmentConfig

    work, _, _ = packed
    monkeypatch.chdir(work)
    cfg = yaml.safe_load(Path("config.yaml").read_text())
    cfg["llm_conf"]["tokenizer"] = "token/tokenizer.model"
    Path("exp/config.yaml").write_text(yaml.safe_dump(cfg))
    Path("dump").mkdir(exist_ok=True)
    SegmentConfig(segmenter="energy", max_window=14.0).write_yaml("dump/segment.yaml")
    base = ["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth", "--tokenizer",
            "token/tokenizer.model"]
    assert pack([*base, "--segment_config", "dump/segment.yaml", "--outpath", "exp/seg.zip"]) == 0
    s2t = Speech2Tags.from_pretrained(work / "exp" / "seg.zip", cache_dir=tmp_path / "c")
    assert s2t.segment_config == SegmentConfig(segmenter="energy", max_window=14.0)
    own = Speech2Tags.from_pretrained(work / "exp" / "seg.zip", cache_dir=tmp_path / "c",
                                      segment_config={"max_window": 9.0})  # fmt: skip
    assert own.segment_config == SegmentConfig(max_window=9.0)
    # without one the defaults hold; settings from_pretrained could not read are not packed
    assert pack([*base, "--outpath", "exp/plain.zip"]) == 0
    assert Speech2Tags.from_pretrained(work / "exp" / "plain.zip", cache_dir=tmp_path / "d").segment_config \
        == SegmentConfig()
    Path("dump/bad.yaml").write_text("max_windw: 14\n")
    assert pack([*base, "--segment_config", "dump/bad.yaml", "--outpath", "exp/bad.zip"]) == 1
    assert not Path("exp/bad.zip").exists()


def test_pack_stores_recipe_relative_names_for_symlinks(packed, tmp_path, monkeypatch):
    """A config symlinked out of the recipe (conf/x.yaml -> ../../conf/x.yaml) is packed
    under its recipe-relative name, never its target's machine path; a file outside the
    recipe is refused with its name."""
    import zipfile

    import yaml

    from espnet_tagspeech.bin.pack import main as pack
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, _, _ = packed
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "link.yaml").write_text("link_unit: speaker\nlinking_threshold: 0.7\n")
    monkeypatch.chdir(work)
    cfg = yaml.safe_load(Path("config.yaml").read_text())
    cfg["llm_conf"]["tokenizer"] = "token/tokenizer.model"
    Path("exp/config.yaml").write_text(yaml.safe_dump(cfg))
    Path("conf").mkdir(exist_ok=True)
    Path("conf/link.yaml").unlink(missing_ok=True)
    Path("conf/link.yaml").symlink_to(shared / "link.yaml")
    assert pack(["--train_config", "exp/config.yaml", "--model_file", "exp/model.pth",
                 "--tokenizer", "token/tokenizer.model", "--link_config", "conf/link.yaml",
                 "--outpath", "exp/linked.zip"]) == 0
    names = zipfile.ZipFile("exp/linked.zip").namelist()
    assert "conf/link.yaml" in names and not any(str(tmp_path).strip("/") in n for n in names)
    s2t = Speech2Tags.from_pretrained(work / "exp" / "linked.zip", cache_dir=tmp_path / "c")
    assert s2t.link_config.linking_threshold == 0.7
    assert pack(["--train_config", "exp/config.yaml", "--model_file", str(shared / "link.yaml"),
                 "--outpath", "exp/bad.zip"]) == 1
    assert not Path("exp/bad.zip").exists()


def _tone_meeting(rate: int = 16000) -> np.ndarray:
    """5 s of tone bursts (speech-like energy) with pauses, and silence."""
    t = np.arange(rate) / rate
    burst = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    pause = np.zeros(rate // 2, np.float32)
    return np.concatenate([pause, burst, pause, burst, pause, burst, pause])


def test_whole_recording_is_cut_decoded_and_linked(packed, s2t, caplog):
    """Calling Speech2Tags decodes a recording: windows from the segmenter, every window's
    answer parsed into recording time, speakers linked across windows."""
    from espnet_tagspeech.decode.link import LinkConfig
    from espnet_tagspeech.segment.config import SegmentConfig

    caplog.set_level("INFO")
    s2t.segment_config = SegmentConfig(segmenter="energy", max_window=1.5)
    s2t.link_config = LinkConfig(link="fbank", rttm_from="lines", linking_threshold=0.5)
    try:
        wav = _tone_meeting()
        res = s2t(wav, key="m1", progress=False)
        ids = [line.split(" ", 1)[0] for line in res.text.splitlines() if line.startswith("m1_")]
        assert len(ids) == 3  # one window per burst, named by their times
        starts = sorted(int(i.split("_")[1]) / 1000 for i in ids)
        assert starts[0] == pytest.approx(0.4, abs=0.15) and starts[1] == pytest.approx(2.0, abs=0.15)
        assert all(t.recording == "m1" for t in res.turns + res.speaker_turns)
        assert all(t.speaker.startswith("spk") for t in res.turns + res.speaker_turns)
        # stereo at 8 kHz: channel 0, resampled, same windows
        stereo = np.stack([wav[::2], np.zeros_like(wav[::2])], 1)
        res8 = s2t(stereo, fs=8000, key="m1", progress=False)
        assert [x.split(" ", 1)[0] for x in res8.text.splitlines() if x.startswith("m1_")] == ids
        assert "2 channels" in caplog.text and "resampling 8000 Hz" in caplog.text
        # silence: no turns and a warning, not a crash
        quiet = s2t(np.zeros(16000 * 3, np.float32), key="q", progress=False)
        assert quiet.turns == [] and quiet.warnings == ["no speech found"]
        with pytest.raises(DataFormatError, match="bad: .*NaN"):
            s2t(np.full(1600, np.nan, np.float32), key="bad")
    finally:
        s2t.segment_config = SegmentConfig()
        s2t.link_config = LinkConfig()


def test_two_speech2tags_in_threads_decode_as_alone(packed, s2t):
    """Two Speech2Tags of one process decoding at once in threads give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, cuts, cfg = packed
    other = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config={"max_new_tokens": 24})
    keys = list(cuts)
    alone = [r.text for r in s2t.batch([cuts[k][0] for k in keys], keys=keys)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(m.batch, [cuts[k][0] for k in keys], keys=keys) for m in (s2t, other)]
        together = [[r.text for r in j.result()] for j in jobs]
    assert together == [alone, alone]


def test_no_repeat_words_puts_the_loop_block_into_the_llm_search(packed, monkeypatch):
    from espnet_tagspeech.decode.answer_search import RepeatedWordBlock
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, cuts, cfg = packed
    seen = []
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config={"max_new_tokens": 4, "no_repeat_words": 2})
    real = s2t.model.llm.generate

    def spy(*args, logits_processor=None, **kw):
        seen.extend(logits_processor or [])
        return real(*args, logits_processor=logits_processor, **kw)

    monkeypatch.setattr(s2t.model.llm, "generate", spy)
    _one(s2t, next(iter(cuts.values()))[0])
    blocks = [p for p in seen if isinstance(p, RepeatedWordBlock)]
    assert len(blocks) == 1 and blocks[0].n == 2


def test_voices_of_an_earlier_pass_reach_the_voice_bias(packed, monkeypatch):
    from espnet_tagspeech.decode.speaker_block import SpeakerVoiceBias
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    work, cuts, cfg = packed
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config=dict(
        max_new_tokens=4, batch_size=2, speaker_constraint=True, speaker_voice_bias=30.0))
    seen = _spy_processors(s2t, monkeypatch)
    wavs = [cuts[k][0] for k in list(cuts)[:2]]
    voices = np.array([[3.0, 4.0], [0.0, 2.0]])
    s2t.batch(wavs, keys=["a", "b"], voices=[voices, None])
    (bias,) = [p for p in seen if isinstance(p, SpeakerVoiceBias)]
    np.testing.assert_allclose(bias.voices[0], [[0.6, 0.8], [0.0, 1.0]])  # unit prints, input 0 only
    assert bias.voices[1] is None


def test_a_meeting_is_decoded_twice_the_second_time_with_its_voices(packed, monkeypatch):
    """speaker_voice_passes 2: every window decoded again with the first pass's linked voices."""
    from espnet_tagspeech.decode.link import LinkConfig
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.segment.config import SegmentConfig

    work, cuts, cfg = packed
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config=dict(
        max_new_tokens=40, speaker_constraint=True, speaker_voice_bias=30.0, speaker_voice_passes=2),
        segment_config=SegmentConfig(segmenter="energy", max_window=2.0),
        link_config=LinkConfig(link="model", linking_threshold=2.0))
    calls = []
    answer = '<text>\n0.00-1.00>hello\n</text>\n<speaker>\n<spk id="1" g="m" t="0.00-1.00"/>\n</speaker>'

    kept = []

    def decode(wavs, voices=None, keep_text=None):  # a parseable answer per window (the tiny model writes noise)
        calls.append(voices)
        kept.append(keep_text)
        return [answer.replace("hello", f"w{len(kept)}-{i}") for i in range(len(wavs))]

    monkeypatch.setattr(s2t, "_decode", decode)
    meeting = np.concatenate([cuts[k][0] for k in list(cuts)[:2]])
    res = s2t(meeting, key="m", progress=False)
    assert len(calls) >= 2 and len(calls) % 2 == 0 and calls[0] is None  # the first pass reads no voices
    first, second = calls[: len(calls) // 2], calls[len(calls) // 2:]
    assert all(v is None for v in first) and all(v is not None for v in second)
    # the second pass keeps each window's text block from the first: its answer is handed back
    half = len(kept) // 2
    assert all(k is None for k in kept[:half])
    assert kept[half:] == [[answer.replace("hello", f"w{n + 1}-{i}") for i in range(len(k))]
                           for n, k in enumerate(kept[half:])]
    voices = second[0][0]  # one print per speaker the first pass linked, the same for every window
    assert all(x is voices for v in second for x in v)
    speakers = {t.speaker for t in res.turns}
    assert voices.shape == (len(speakers), s2t.model.speaker_encoder.output_size() * 2)  # frame mean, std
    assert res.turns and all(t.recording == "m" for t in res.turns)
    # the voices came from the decoder's own speaker_voice_from encoder (built once, shared)
    assert s2t._voice_encoder is not None and s2t.voice_embedder() is s2t._voice_encoder
    # text: the last pass's answer of every window (first-pass answers are not in it)
    sizes = [len(k) for k in kept[half:]]  # windows per call, the same in both passes

    def lines(first_call):
        return [f">w{first_call + n}-{i}\n" for n, size in enumerate(sizes) for i in range(size)]
    assert res.text.count("<text>") == sum(sizes)
    assert all(x in res.text for x in lines(half + 1))
    assert not any(x in res.text for x in lines(1))


KEPT = '<text>\n0.00-0.50>hello\n0.30-0.90>yes\n</text>\n<speaker>\n<spk id="1" g="m" t="0.00-0.50"/>\n</speaker>'


def test_a_kept_text_block_is_continued_as_if_the_llm_had_written_it(packed, monkeypatch):
    """keep_text: the LLM writes what follows an earlier answer's text block, the same tokens as
    when it writes that block itself (forced token by token) and carries on; an input without one
    is decoded whole, as alone."""
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.serialization import answer_text_block

    work, cuts, cfg = packed
    conf = dict(max_new_tokens=12, batch_size=2, speaker_constraint=True)
    s2t = Speech2Tags(cfg, work / "exp" / "model.pth", decode_config=conf)
    wavs = [cuts[k][0] for k in list(cuts)[:2]]
    kept, whole = s2t.batch(wavs, keys=["a", "b"], keep_text=[KEPT, None])
    block = answer_text_block(KEPT)
    assert kept.text.startswith(block) and not whole.text.startswith(block)
    assert whole.text == _one(s2t, wavs[1], "b").text
    forced_ids = s2t.model.llm.tokenizer.encode(block)

    def force(input_ids, scores):  # the kept block, token by token, then the model's own choice
        n = len(input_ids[0])
        if n < len(forced_ids):
            scores[0] = float("-inf")
            scores[0, forced_ids[n]] = 0.0
        return scores

    real = s2t.model.llm.generate
    monkeypatch.setattr(s2t.model.llm, "generate", lambda *a, logits_processor=None, **kw: real(
        *a, logits_processor=list(logits_processor or []) + [force], **kw))
    s2t.decode_config = replace(s2t.decode_config, max_new_tokens=12 + len(forced_ids))
    assert _one(s2t, wavs[0], "a").text == kept.text


def test_kept_text_blocks_skip_the_text_blocks_search(packed, monkeypatch, tmp_path):
    """With every text block kept, the CTC fusion and time constraint are not built (they act
    inside the text block only) and the speaker block's constraint reads the kept block."""
    import espnet_tagspeech.decode.speech2tags as s2t_mod
    from espnet_tagspeech.decode.answer_search import AnswerPrefix, CtcWordBias, TimeRangeConstraint
    from espnet_tagspeech.decode.speaker_block import SpeakerBlockConstraint
    from espnet_tagspeech.decode.speech2tags import Speech2Tags

    _, cuts, _ = packed
    cfg, weights = _time_ordered_model(packed, tmp_path)  # a model with a CTC head
    s2t = Speech2Tags(cfg, weights, decode_config=dict(
        max_new_tokens=4, batch_size=2, speaker_constraint=True, ctc_word_bias=3.0, time_constraint=True))
    seen = _spy_processors(s2t, monkeypatch)
    wavs = [cuts[k][0] for k in list(cuts)[:2]]
    real_ctc = s2t_mod.ctc_log_posteriors
    calls = []
    monkeypatch.setattr(s2t_mod, "ctc_log_posteriors", lambda *a, **kw: calls.append(1) or real_ctc(*a, **kw))
    s2t.batch(wavs, keep_text=[KEPT, KEPT])
    (wrapped,) = seen
    assert isinstance(wrapped, AnswerPrefix) and not calls
    assert [type(p) for p in wrapped.processors] == [SpeakerBlockConstraint]
    assert wrapped.prefixes[0] == s2t.model.llm.tokenizer.encode(KEPT.split("<speaker>")[0])
    seen.clear()
    s2t.batch(wavs, keep_text=[KEPT, "<text>\n0.00-0.40>cut sh"])  # one answer to write whole
    (wrapped,) = seen
    assert {CtcWordBias, TimeRangeConstraint, SpeakerBlockConstraint} <= {type(p) for p in wrapped.processors}
    assert calls and wrapped.prefixes[1] == []
    ctc = Speech2Tags(cfg, weights, decode_config=dict(max_new_tokens=4, text_from="ctc"))
    with pytest.raises(ValueError, match="keep_text: with text_from 'ctc'"):
        ctc.batch(wavs[:1], keep_text=[KEPT])
