"""The mini recipe's default decoding is TagSpeech's: every scored output comes from the
LLM's answer (words and line times from its text block, line speakers and the RTTM from its
speaker block). A silent fallback to the cascade (CTC lines, line clustering) fails here."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "mini_meeting" / "tagspeech1"

# The answer the patched LLM writes for every window: two overlapping lines of two speakers;
# the speaker block also gives speaker 1 a range no line has (only the block can be its source).
ANSWER = (
    "<text>\n0.20-1.40>HELLO THERE\n0.90-2.10>NO WAY\n</text>\n<speaker>\n"
    '<spk id="1" g="f" t="0.20-1.40,1.50-1.80"/>\n<spk id="2" g="m" t="0.90-2.10"/>\n</speaker>'
)


def _llm_call(size: str):
    """The decoding and linking configs of run.sh's first system (the recipe's own) at ``size``."""
    text = (RECIPE / "run.sh").read_text()
    m = re.search(r"^llm=\((.*?)\)", text, re.S | re.M)
    assert m, "run.sh: no llm=(...) options"
    opts = m.group(1).split()
    inference, link = opts[opts.index("--inference_config") + 1].strip('"'), opts[opts.index("--link_config") + 1]
    var = re.fullmatch(r"\$\{(\w+)\}", inference)
    if var:  # set per size in run.sh's case statement
        block = re.search(rf"^\s*{size}\)(.*?);;", text, re.S | re.M)
        assert block, f"run.sh: no case for size {size}"
        inference = re.search(rf"\b{var.group(1)}=(\S+)", block.group(1)).group(1)
    return inference, link


@pytest.mark.parametrize("size", ["mini", "tiny"])
def test_recipe_default_decoding_is_the_llms_answer(size):
    from espnet_tagspeech.decode.config import DecodeConfig
    from espnet_tagspeech.decode.link import LinkConfig

    inference, link = _llm_call(size)
    # (tagspeech.sh gives every decoding stage 4's n-gram LM)
    assert DecodeConfig.from_yaml(RECIPE / inference, ngram_file="ngram.json").text_from == "llm"
    lc = LinkConfig.from_yaml(RECIPE / link)
    assert (lc.link_unit, lc.rttm_from) == ("speaker", "block")
    assert lc.min_speaker_sec > 0  # stray linked speakers fold into the closest allowed one
    assert "--system \"TagSpeech (LLM)\"" in (RECIPE / "run.sh").read_text()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from espnet_tagspeech.decode.speech2tags import Speech2Tags
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    work = tmp_path_factory.mktemp("defaults")
    _, cfg = setup_tiny(str(work), num_cuts=2)
    torch.manual_seed(0)
    model = TagSpeechTask.build_model(args_from_config(cfg))
    torch.save(model.state_dict(), work / "model.pth")
    return Speech2Tags(cfg, work / "model.pth")


def test_scored_rttm_and_line_speakers_come_from_the_speaker_block(tiny, monkeypatch):
    from espnet_tagspeech.decode.config import DecodeConfig
    from espnet_tagspeech.decode.link import LinkConfig
    from espnet_tagspeech.segment.config import SegmentConfig

    inference, link = _llm_call("mini")
    from espnet_tagspeech.decode.config import CTC_FUSION_SETTINGS, CTC_LINE_SETTINGS

    # (the tiny model has no CTC head: no CTC fusion, the rest of the recipe's decoding as it is)
    fused = CTC_LINE_SETTINGS + CTC_FUSION_SETTINGS
    no_ctc = {k: DecodeConfig.defaults()[k] for k in fused}
    tiny.decode_config = DecodeConfig.from_yaml(RECIPE / inference, **no_ctc)
    assert tiny.decode_config.speaker_constraint and tiny.decode_config.time_constraint
    tok = tiny.model.llm.tokenizer
    answer, prefixes = tok.encode(ANSWER), []
    real_inputs = tiny.model.generation_inputs

    def inputs(*args, answer_prefixes=None, **kw):
        prefixes.append(answer_prefixes)
        return real_inputs(*args, answer_prefixes=answer_prefixes, **kw)

    def generate(embeds, mask, **kw):  # ANSWER, after the part of it fed with the prompt
        kept = prefixes[-1] or [[]] * embeds.shape[0]
        assert all(answer[: len(p)] == p for p in kept)
        return [answer[len(p):] for p in kept]

    monkeypatch.setattr(tiny.model, "generation_inputs", inputs)
    monkeypatch.setattr(tiny.model.llm, "generate", generate)
    tiny.segment_config = SegmentConfig(segmenter="energy", max_window=3.0)
    # the recipe's linking, but no speaker dropped: this 3-s meeting's two people speak 1.2 s each
    # (drop_speaker_sec is tested in test/decode/test_link.py)
    tiny.link_config = dataclasses.replace(LinkConfig.from_yaml(RECIPE / link), drop_speaker_sec=0.0)
    rng = np.random.default_rng(0)
    wav = np.concatenate([np.zeros(8000), 0.3 * rng.standard_normal(16000 * 2), np.zeros(8000)]).astype(np.float32)
    res = tiny(wav, key="m", progress=False)
    assert prefixes[0] is None and prefixes[-1]  # the second pass kept the first's text blocks
    (start,) = {t.start - 0.2 for t in res.turns if t.text == "HELLO THERE"}
    # the words and times are the text block's, the speakers the block's (two people)
    assert [(round(t.start - start, 2), round(t.end - start, 2), t.text) for t in res.turns] == [
        (0.2, 1.4, "HELLO THERE"), (0.9, 2.1, "NO WAY")]
    assert len({t.speaker for t in res.turns}) == 2
    # the RTTM is the speaker block's ranges, each with the speaker of its line
    got = sorted((round(t.start - start, 2), round(t.end - start, 2), t.speaker) for t in res.speaker_turns)
    spk1, spk2 = (t.speaker for t in res.turns)
    assert got == [(0.2, 1.4, spk1), (0.9, 2.1, spk2), (1.5, 1.8, spk1)]
