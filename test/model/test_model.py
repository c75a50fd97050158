"""ESPnetTagSpeechModel built from the tiny config: prompt layout, loss masking,
batching, freezing, LoRA and build-time checks."""

import copy

import pytest
import torch

from espnet_tagspeech.model.tiny import build_args, setup_tiny

FROZEN = {
    "semantic_encoder_conf": {"freeze": True},
    "speaker_encoder_conf": {"freeze": True},
    "llm_conf": {"freeze": True},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    cuts, cfg = setup_tiny(str(work), num_cuts=3)
    return cuts, build_args(cfg)


def _build(args, **over):
    from espnet_tagspeech.model.tiny import merge_config
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    args = copy.deepcopy(args)
    for k, v in over.items():
        cur = getattr(args, k)
        if isinstance(v, dict) and isinstance(cur, dict):
            merge_config(cur, v)
        else:
            setattr(args, k, v)
    torch.manual_seed(0)
    return TagSpeechTask.build_model(args)


def _batch(model, cuts, keys):
    tok = model.llm.tokenizer
    wavs = [torch.from_numpy(cuts[k][0]) for k in keys]
    ids = [tok.encode(cuts[k][1]) for k in keys]
    lens = torch.tensor([len(w) for w in wavs])
    speech = torch.zeros(len(wavs), int(lens.max()))
    text = torch.full((len(ids), max(map(len, ids))), -1)
    for i, (w, x) in enumerate(zip(wavs, ids)):
        speech[i, : len(w)] = w
        text[i, : len(x)] = torch.tensor(x)
    return speech, lens, text, torch.tensor([len(x) for x in ids])


def test_prompt_holds_digit_anchors_at_the_right_places(tiny):
    cuts, args = tiny
    model = _build(args).eval()
    speech, lens, _, _ = _batch(model, cuts, ["cut3"])  # 2.0 s
    prompt = model.encode_prompts(speech, lens)[0]
    llm = model.llm
    emb = llm.embed_tokens.weight
    # WavLM: 2.0 s -> 99 frames -> ds 2 -> 50 projected frames -> anchors 0..7 (7 = end)
    n_sem = (int(model.semantic_encoder.wavlm._get_feat_extract_output_lengths(lens)[0]) + 1) // 2
    start = len(llm.prefix_ids)
    for n in range(n_sem // 8 + 1):
        pos = start + n * 9  # each anchor (one digit) is followed by 8 frames
        torch.testing.assert_close(prompt[pos], emb[llm.digit_ids[n]])
    end_anchor = start + n_sem + n_sem // 8 + 1
    torch.testing.assert_close(prompt[end_anchor], emb[llm.digit_ids[n_sem // 8 + 1]])
    mid = llm.embed_ids(llm.middle_ids, prompt.device)
    torch.testing.assert_close(prompt[end_anchor + 1 : end_anchor + 1 + len(mid)], mid)
    suffix = llm.embed_ids(llm.suffix_ids, prompt.device)
    torch.testing.assert_close(prompt[-len(suffix) :], suffix)


def test_loss_counts_answer_tokens_only_and_batching_is_exact(tiny):
    cuts, args = tiny
    model = _build(args).eval()
    keys = ["cut1", "cut2", "cut3"]
    speech, lens, text, tlen = _batch(model, cuts, keys)
    with torch.no_grad():
        loss_b, stats, weight = model(speech, lens, text, tlen)
        singles = []
        for i, k in enumerate(keys):
            s, l, t, tl = _batch(model, cuts, [k])
            singles.append(float(model(s, l, t, tl)[0]))
    assert int(weight) == 3 and 0.0 <= float(stats["acc"]) <= 1.0
    n = (tlen + 1).float()  # answer tokens + EOS per item
    expected = float((torch.tensor(singles) * n).sum() / n.sum())
    assert float(loss_b) == pytest.approx(expected, rel=1e-4)


def test_frozen_parts_stay_fixed_and_projectors_train(tiny):
    cuts, args = tiny
    model = _build(args, **FROZEN)
    model.train()
    assert not model.speaker_encoder.training and not model.llm.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss, _, _ = model(*_batch(model, cuts, ["cut1", "cut2"]))
    loss.backward()
    for name, p in model.named_parameters():
        frozen = name.startswith(("semantic_encoder.wavlm", "speaker_encoder", "llm"))
        assert (p.grad is None) == frozen, name
    opt.step()
    after = model.state_dict()
    for k, v in before.items():
        changed = not torch.equal(v, after[k])
        if k.startswith(("semantic_encoder.wavlm", "speaker_encoder", "llm")):
            assert not changed, k  # incl. batch-norm statistics
        elif k.startswith(("semantic_projector", "speaker_projector")) and k.endswith("weight"):
            assert changed, k


def test_lora_adds_trainable_adapters_only(tiny):
    _, args = tiny
    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    model = _build(args, **{**FROZEN, "llm_conf": {"freeze": True, "lora": lora}})
    trainable = [n for n, p in model.llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert sum(1 for n in trainable if "q_proj" in n) == 2 * 2  # A and B per layer
    with pytest.raises(ValueError, match="freeze: true"):
        _build(args, llm_conf={"freeze": False, "lora": lora})


def test_anchor_spacing_mismatch_fails_at_build(tiny):
    _, args = tiny
    with pytest.raises(ValueError, match=r"0\.32.*0\.16|0\.16.*0\.32"):
        _build(args, speaker_projector_conf={"ds_rate": 2})


def test_unknown_class_lists_choices(tiny):
    _, args = tiny
    with pytest.raises(ValueError, match="unknown semantic_encoder 'hubert'.*'wavlm'"):
        _build(args, semantic_encoder="hubert")
    with pytest.raises(ValueError, match="unknown llm 'gpt'.*'hf_causal_lm'"):
        _build(args, llm="gpt")


def test_tokenizer_too_big_for_llm(tiny):
    _, args = tiny
    with pytest.raises(ValueError, match="LLM embeds only 16"):
        _build(args, llm_conf={"config": {"vocab_size": 16}})


def test_auxiliary_sot_ctc_loss(tiny):
    from espnet_tagspeech.tasks.preprocessor import sot_transcript

    cuts, args = tiny
    model = _build(args, model_conf={"ctc_weight": 0.25}).eval()
    tok = model.llm.tokenizer
    keys = ["cut1", "cut2"]
    ctc = [tok.encode(sot_transcript(cuts[k][1])) for k in keys]
    assert tok.decode(ctc[1]) == "OKAY\nYES PLEASE"
    ctc_text = torch.full((2, max(map(len, ctc))), -1)
    for i, x in enumerate(ctc):
        ctc_text[i, : len(x)] = torch.tensor(x)
    batch = _batch(model, cuts, keys)
    with torch.no_grad():
        loss, stats, _ = model(*batch, ctc_text=ctc_text, ctc_text_lengths=torch.tensor([len(x) for x in ctc]))
    assert float(stats["loss_ctc"]) > 0
    expected = 0.75 * float(stats["loss_llm"]) + 0.25 * float(stats["loss_ctc"])
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="needs ctc_text"):
        model(*batch)
    with pytest.raises(ValueError, match="ctc_weight"):
        _build(args, model_conf={"ctc_weight": 1.5})


def test_checkpoints_can_leave_out_frozen_weights(tiny):
    _, args = tiny
    model = _build(args, **{**FROZEN, "model_conf": {"save_frozen": False}})
    sd = model.state_dict()
    assert not any(k.startswith(("llm.", "speaker_encoder.", "semantic_encoder.wavlm.")) for k in sd)
    assert any(k.startswith("semantic_projector.") for k in sd)
    fresh = _build(args, **{**FROZEN, "model_conf": {"save_frozen": False}})
    fresh.load_state_dict(sd)  # strict, frozen parts absent: fine
    for k, v in sd.items():
        torch.testing.assert_close(fresh.state_dict()[k], v)
    del sd["speaker_projector.linear1.weight"]
    with pytest.raises(RuntimeError, match="speaker_projector.linear1.weight"):
        fresh.load_state_dict(sd)
    full = _build(args, **FROZEN).state_dict()
    assert any(k.startswith("llm.") for k in full)  # default keeps everything
