"""ESPnetTagSpeechModel built from the tiny config: prompt layout, loss masking,
batching, freezing, LoRA and build-time checks."""

import copy

import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

FROZEN = {
    "semantic_encoder_conf": {"freeze": True},
    "speaker_encoder_conf": {"freeze": True},
    "llm_conf": {"freeze": True},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    cuts, cfg = setup_tiny(str(work), num_cuts=3)
    return cuts, args_from_config(cfg)


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


def test_ablations_drop_the_anchors_or_the_speaker_stream(tiny):
    """time_anchors: false leaves the frames without digits; speaker_stream: false leaves the
    speaker frames out; both prompts are exactly that much shorter than the paper's."""
    cuts, args = tiny
    full = _build(args).eval()
    speech, lens, _, _ = _batch(full, cuts, ["cut3"])
    feats = full.encode_streams(speech, lens)
    n_full = full.stream_prompts(feats)[0].shape[0]
    sem, _ = full.semantic_projector(feats.semantic, feats.semantic_lengths)
    spk, _ = full.speaker_projector(feats.speaker, feats.speaker_lengths)
    n_sem, n_spk = sem.shape[1], spk.shape[1]
    n_anchor_tokens = n_full - n_sem - n_spk - sum(
        len(x) for x in (full.llm.prefix_ids, full.llm.middle_ids, full.llm.suffix_ids))
    assert n_anchor_tokens > 0
    no_anchor = _build(args, model_conf={"time_anchors": False}).eval()
    assert no_anchor.stream_prompts(feats)[0].shape[0] == n_full - n_anchor_tokens
    no_spk = _build(args, model_conf={"speaker_stream": False}).eval()
    prompt = no_spk.stream_prompts(feats)[0]
    spk_anchor_tokens = sum(len(full.speaker_anchors.number_ids(n)) for n in range(n_spk // 8 + 2))
    assert prompt.shape[0] == n_full - n_spk - spk_anchor_tokens
    # the speaker frames change the full prompt, not the one without the speaker stream
    feats2 = type(feats)(feats.semantic, feats.semantic_lengths, feats.speaker + 1.0,
                         feats.speaker_lengths, feats.ctc_post)
    assert not torch.equal(full.stream_prompts(feats2)[0], full.stream_prompts(feats)[0])
    assert torch.equal(no_spk.stream_prompts(feats2)[0], prompt)
    with pytest.raises(ValueError, match="speaker_on_words needs speaker_stream"):
        _build(args, model_conf={"speaker_stream": False, "speaker_on_words": True})


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


def test_time_ordered_ctc_head_settings(tiny):
    _, args = tiny
    model = _build(args, model_conf={"ctc_order": "time", "ctc_channels": 3, "ctc_embed": True})
    assert (model.ctc_order, model.ctc_channels) == ("time", 3) and model.ctc_head is not None
    # t-SOT targets need word times, which the training batches lack
    with pytest.raises(ValueError, match="ctc_order 'time'.*ctc_weight 0"):
        _build(args, model_conf={"ctc_order": "time", "ctc_weight": 0.3})
    with pytest.raises(ValueError, match="ctc_order must be"):
        _build(args, model_conf={"ctc_order": "random"})
    with pytest.raises(ValueError, match="ctc_channels"):
        _build(args, model_conf={"ctc_order": "time", "ctc_channels": 0})


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


def test_ctc_embed_adds_posterior_weighted_token_embeddings(tiny):
    """With ctc_embed, a semantic frame whose CTC posterior is one token carries that token's
    LLM embedding on top of the projector output; blank-only frames add nothing."""
    cuts, args = tiny
    model = _build(args, model_conf={"ctc_embed": True}).eval()
    assert model.ctc_head is not None and model.ctc_weight == 0
    plain = _build(args).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("ctc_head.")})
    head = model.ctc_head
    vocab = head.out_features - 1
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[5] = 30.0  # every frame: token 5 with probability ~1
    batch = _batch(model, cuts, ["cut1"])
    with torch.no_grad():
        enc, enc_len = model.semantic_encoder(batch[0], batch[1])
        probs = torch.softmax(model.ctc_head(enc), dim=-1)
        post = model._posterior_embeddings(probs, enc_len, -(-enc.shape[1] // model.semantic_projector.ds_rate))
        token5 = model.llm.embed_tokens.weight[5]
        torch.testing.assert_close(post[0, 0], token5, atol=1e-5, rtol=1e-5)
        with_emb = model.encode_prompts(batch[0], batch[1])[0]
        without = plain.encode_prompts(batch[0], batch[1])[0]
        diff = with_emb - without
        # the prompt differs exactly at the semantic frames (by token 5's embedding)
        changed = (diff.abs().sum(-1) > 1e-4).nonzero().flatten().tolist()
        assert len(changed) == post.shape[1]
        torch.testing.assert_close(diff[changed[0]], token5, atol=1e-4, rtol=1e-4)
        head.bias[5] = -30.0
        head.bias[vocab] = 30.0  # blank everywhere: nothing added
        torch.testing.assert_close(model.encode_prompts(batch[0], batch[1])[0], without, atol=1e-5, rtol=1e-5)
    # the LLM loss trains through the added embeddings (the posteriors themselves are fixed)
    model.train()
    loss, _, _ = model(*batch)
    loss.backward()
    assert model.llm.embed_tokens.weight.grad is not None
    assert head.weight.grad is None


def test_projector_output_norm_puts_frames_on_the_llm_embedding_scale(tiny):
    cuts, args = tiny
    model = _build(
        args,
        semantic_projector_conf={"output_norm": True},
        speaker_projector_conf={"output_norm": True},
    ).eval()
    emb_rms = model.llm.embed_tokens.weight.pow(2).mean().sqrt()
    speech, lens, _, _ = _batch(model, cuts, ["cut1"])
    with torch.no_grad():
        for enc, proj in (
            (model.semantic_encoder, model.semantic_projector),
            (model.speaker_encoder, model.speaker_projector),
        ):
            frames, flen = enc(speech, lens)
            out, olen = proj(frames, flen)
            rms = out[0, : int(olen[0])].pow(2).mean(-1).sqrt()
            torch.testing.assert_close(rms, torch.full_like(rms, float(emb_rms)), rtol=1e-2, atol=1e-5)


def test_ctc_compress_keeps_token_start_frames_only(tiny):
    """One token everywhere -> one run start -> a single semantic frame between the anchors."""
    cuts, args = tiny
    model = _build(args, model_conf={"ctc_compress": True}).eval()
    plain = _build(args).eval()
    head = model.ctc_head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-30.0)
        head.bias[5] = 30.0
    speech, lens, text, tlen = _batch(model, cuts, ["cut1", "cut3"])
    with torch.no_grad():
        enc, enc_len = model.semantic_encoder(speech, lens)
        _, sem_len = model.semantic_projector(enc, enc_len)
        short = model.encode_prompts(speech, lens)
        full = plain.encode_prompts(speech, lens)
        for i in range(2):
            assert short[i].shape[0] == full[i].shape[0] - int(sem_len[i]) + 1
            # batch == single
            alone = model.encode_prompts(speech[i : i + 1, : int(lens[i])], lens[i : i + 1])[0]
            torch.testing.assert_close(short[i], alone, atol=1e-5, rtol=1e-5)
    # the added features train with the LLM loss
    model.train()
    loss, _, _ = model(speech, lens, text, tlen)
    loss.backward()
    assert model.ctc_compressor.tenths.weight.grad.abs().sum() > 0
    assert model.ctc_compressor.prev_proj.weight.grad is not None
    assert head.weight.grad is None


def test_input_token_noise_only_in_training_and_labels_stay(tiny):
    cuts, args = tiny
    clean = _build(args).eval()
    noisy = _build(args, model_conf={"input_token_noise": 0.5})
    noisy.load_state_dict(clean.state_dict())
    batch = _batch(clean, cuts, ["cut1", "cut2"])
    noisy.eval()
    with torch.no_grad():
        assert float(noisy(*batch)[0]) == pytest.approx(float(clean(*batch)[0]), rel=1e-6)
    vocab = noisy.llm.tokenizer.vocab_size
    ids = [i % vocab for i in range(200)]
    assert noisy._noisy(ids) == ids  # eval mode: untouched
    noisy.train()
    torch.manual_seed(0)
    out = noisy._noisy(ids)
    changed = sum(a != b for a, b in zip(ids, out))
    assert 60 < changed < 140 and all(0 <= x < vocab for x in out)
    with pytest.raises(ValueError, match="input_token_noise"):
        _build(args, model_conf={"input_token_noise": 1.0})


def test_ctc_noise_changes_the_ctc_features_in_training_only(tiny):
    cuts, args = tiny
    model = _build(args, model_conf={"ctc_embed": True, "ctc_noise": 0.5})
    speech, lens, _, _ = _batch(model, cuts, ["cut1", "cut2"])
    with torch.no_grad():
        feats = model.encode_streams(speech, lens)
        sem, _ = model.semantic_projector(feats.semantic, feats.semantic_lengths)
        model.eval()
        clean = model.add_ctc_features(sem, feats.ctc_post, feats.semantic_lengths)[0]
        again = model.add_ctc_features(sem, feats.ctc_post, feats.semantic_lengths)[0]
        model.train()
        noisy = model.add_ctc_features(sem, feats.ctc_post, feats.semantic_lengths)[0]
    torch.testing.assert_close(clean, again)
    assert not torch.allclose(noisy, clean)
    with pytest.raises(ValueError, match="ctc_noise must be in"):
        _build(args, model_conf={"ctc_embed": True, "ctc_noise": 1.0})
    with pytest.raises(ValueError, match="set ctc_embed or ctc_compress"):
        _build(args, model_conf={"ctc_noise": 0.2})


def test_copy_head_init_needs_ctc_compress_and_wires_prev_proj(tiny):
    cuts, args = tiny
    with pytest.raises(ValueError, match="copy_head_init wires the LLM to ctc_compress"):
        _build(args, model_conf={"copy_head_init": True})
    plain = _build(args, model_conf={"ctc_compress": True})
    wired = _build(args, model_conf={"ctc_compress": True, "copy_head_init": True})
    assert not plain.ctc_compressor.prev_proj.weight.any()  # zero-initialised without it
    assert wired.ctc_compressor.prev_proj.weight.any()
    # the model still trains end to end
    speech, lens, text, tlen = _batch(wired, cuts, ["cut1", "cut2"])
    wired.train()
    loss, _, _ = wired(speech, lens, text, tlen)
    loss.backward()
    assert torch.isfinite(loss) and wired.ctc_compressor.prev_proj.weight.grad is not None


def test_the_copy_head_builds_under_lora_and_only_the_adapters_train(tiny):
    """The mini recipe's model (two-token copy head) with the LLM frozen and LoRA adapters, the
    paper's production setting: it builds, wires the heads and trains the adapters only."""
    cuts, args = tiny
    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    model = _build(args, model_conf={"ctc_compress": True, "ctc_order": "time", "copy_head_init": 2},
                   llm_conf={"freeze": True, "lora": lora})  # fmt: skip
    assert model.ctc_compressor.prev2_proj.weight.any()
    trainable = [n for n, p in model.llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    model.train()
    loss, _, _ = model(*_batch(model, cuts, ["cut1", "cut2"]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for n, p in model.llm.named_parameters() if "lora_B" in n)


def test_two_token_copy_head_keys_on_tsot_channels_and_trains(tiny):
    cuts, args = tiny
    with pytest.raises(ValueError, match="must be false, true"):
        _build(args, model_conf={"ctc_compress": True, "copy_head_init": 3})
    with pytest.raises(ValueError, match="keys on t-SOT channels"):
        _build(args, model_conf={"ctc_compress": True, "copy_head_init": 2})
    wired = _build(args, model_conf={"ctc_compress": True, "ctc_order": "time", "copy_head_init": 2})
    comp = wired.ctc_compressor
    assert comp.prev2_proj is not None and comp.prev2_proj.weight.any() and comp.channels == 2
    tok = wired.llm.tokenizer
    assert comp.line_start_id == tok.encode(">")[0]
    # a word opening a line is spelled as the answer spells it after '>'
    assert all(tok.encode(">" + tok.decode([i]).strip())[1:] == [j] for i, j in comp.line_first_ids.items())
    plain = _build(args, model_conf={"ctc_compress": True, "ctc_order": "time"})
    assert plain.ctc_compressor.prev2_proj is None and plain.ctc_compressor.line_start_id is None
    speech, lens, text, tlen = _batch(wired, cuts, ["cut1", "cut2"])
    wired.train()
    loss, _, _ = wired(speech, lens, text, tlen)
    loss.backward()
    assert torch.isfinite(loss) and comp.prev2_proj.weight.grad is not None


def test_answer_line_features_are_the_same_in_generation_as_in_training(tiny):
    cuts, args = tiny
    conf = {"ctc_compress": True, "ctc_order": "time", "ctc_line_embed": 4}
    with pytest.raises(ValueError, match="set ctc_line_embed"):
        _build(args, model_conf={"ctc_compress": True, "ctc_order": "time", "answer_line_embed": 4})
    model = _build(args, model_conf={**conf, "answer_line_embed": 4, "copy_head_init": 2}).eval()
    lines = model.answer_lines
    assert lines.table.weight.any()  # wired by the copy head's init
    with torch.no_grad():
        lines.table.weight.normal_(std=float(lines.table.weight.abs().max()))
    tok = model.llm.tokenizer
    speech, lens, _, _ = _batch(model, cuts, ["cut1", "cut2"])
    prefixes = [tok.encode("<text>\n0.00-1.00>"), tok.encode("<text>\n")]

    def generate(hooked):
        with torch.no_grad():
            embeds, mask = model.generation_inputs(speech, lens, prefixes)
            ctx = model.generating(prefixes, 2) if hooked else torch.no_grad()
            with ctx:
                return model.llm.generate(embeds, mask, max_new_tokens=12)

    def teacher_forced_argmax(i, gen):
        with torch.no_grad():
            prompt = model.encode_prompts(speech[i : i + 1, : int(lens[i])], lens[i : i + 1])[0]
            ids = prefixes[i] + gen
            seq = torch.cat([prompt, model.answer_embeds(ids, prompt.device)])[None]
            n = seq.shape[1]
            hidden = model.llm.hidden_states(seq, torch.ones(1, n, dtype=torch.long), torch.arange(n)[None])
            logits = model.llm.logits(hidden[0, prompt.shape[0] + len(prefixes[i]) - 1 : -1])
        return logits.argmax(-1).tolist()

    gens = generate(hooked=True)
    assert all(len(g) > 3 for g in gens)
    for i, g in enumerate(gens):
        assert teacher_forced_argmax(i, g) == g
    # without the hook the generated tokens lack their line features: other answers
    assert generate(hooked=False) != gens


def test_line_times_append_the_ctc_lines_times_to_the_semantic_block(tiny):
    from espnet_tagspeech.model.line_times import greedy_lines
    from espnet_tagspeech.model.stream_cache import StreamFeatures

    cuts, args = tiny
    conf = {"ctc_compress": True, "ctc_order": "time", "copy_head_init": 2}
    with pytest.raises(ValueError, match="ctc_line_times needs copy_head_init 2"):
        _build(args, model_conf={"ctc_compress": True, "ctc_order": "time", "ctc_line_times": True})
    with pytest.raises(ValueError, match="frame_clock false"):
        _build(args, model_conf={**conf, "ctc_line_times": True, "frame_clock": True})
    with pytest.raises(ValueError, match="ctc_line_gap splits the lines of ctc_line_times"):
        _build(args, model_conf={**conf, "ctc_line_gap": 1.0})
    plain = _build(args, model_conf=conf).eval()
    model = _build(args, model_conf={**conf, "ctc_line_times": True}).eval()
    assert model.ctc_compressor.tenths is None and plain.ctc_compressor.tenths is not None
    tok = model.llm.tokenizer
    speech, lens, text, tlen = _batch(model, cuts, ["cut1"])
    with torch.no_grad():
        feats = model.encode_streams(speech, lens)
        # a CTC path of two lines: "a b" then, on the same channel, "c" 1 s later
        post = torch.zeros_like(feats.ctc_post)
        blank = post.shape[-1] - 1
        path = torch.full((post.shape[1],), blank)
        a, b, c = (tok.encode(" " + w)[0] for w in ("a", "b", "c"))
        path[2], path[4], path[5], path[25] = a, b, tok.encode("\n")[0], c
        post[0, torch.arange(len(path)), path] = 1.0
        feats = StreamFeatures(feats.semantic, feats.semantic_lengths, feats.speaker, feats.speaker_lengths, post)
        with_block = model.stream_prompts(feats)[0]
        without = plain.stream_prompts(feats)[0]
    lines = greedy_lines(path.tolist(), blank, model.ctc_compressor.symbol_ids, 2)
    shift = model.semantic_encoder.frame_shift
    spelled = "".join(f"{max(0, ln.start * shift - 0.1):.2f}-{ln.end * shift + 0.35:.2f}>" for ln in lines)
    assert len(lines) == 2 and with_block.shape[0] == without.shape[0] + len(spelled)
    # trains end to end, the copy head's maps included
    model.train()
    loss, _, _ = model(speech, lens, text, tlen)
    loss.backward()
    assert torch.isfinite(loss) and model.ctc_compressor.prev2_proj.weight.grad is not None
