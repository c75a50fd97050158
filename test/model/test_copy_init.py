"""The copy head a random-init LLM can start with: it looks up the frame after the token just written."""

import pytest
import torch

from espnet_tagspeech.model.copy_init import init_copy_head


def _qwen(layers: int = 1):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=300, hidden_size=192, num_hidden_layers=layers, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=256, max_position_embeddings=1024,
                      tie_word_embeddings=True)
    cfg._attn_implementation = "eager"
    return Qwen2ForCausalLM(cfg).eval()


def _frames(emb, prev_proj, toks, gen, noise=2.0):
    """Compressed frames: each token's embedding, its predecessor's feature and other features (noise)."""
    prev = torch.cat([torch.zeros(1, emb.shape[1]), emb[toks[:-1]]])
    return emb[toks] + prev_proj(prev) + noise * emb.std() * torch.randn(len(toks), emb.shape[1], generator=gen)


@torch.no_grad()
def test_head_zero_attends_to_the_frame_after_the_token_just_written():
    llm = _qwen()
    emb = llm.get_input_embeddings().weight
    prev_proj = torch.nn.Linear(192, 192, bias=False)
    digits = list(range(10))
    init_copy_head(llm, prev_proj, digits)
    gen = torch.Generator().manual_seed(1)
    toks = torch.randperm(280, generator=gen)[:60] + 20  # distinct, none a digit
    frames = _frames(emb, prev_proj, toks, gen)
    filler = emb.std() * torch.randn(200, 192, generator=gen)  # the speaker block between
    asked = torch.arange(5, 55, 3)
    seq = torch.cat([frames, filler, emb[toks[asked]]])[None]
    att = llm.model(inputs_embeds=seq, output_attentions=True).attentions[0][0, 0, 260:]
    hit = (att.argmax(-1) == asked + 1).float().mean()
    assert hit > 0.8, hit
    # a model without the copy head does not do it
    plain = _qwen()
    plain_att = plain.model(inputs_embeds=seq, output_attentions=True).attentions[0][0, 0, 260:]
    assert (plain_att.argmax(-1) == asked + 1).float().mean() < 0.2
    # what the head copies leaves the digits out: the frames' time features are digit embeddings
    v_rows = llm.model.layers[0].self_attn.v_proj.weight[:48]
    assert (emb[digits] @ v_rows.t()).abs().max() < 1e-4 * (emb[100:110] @ v_rows.t()).abs().max()
    assert v_rows[:, :12].abs().max() < 1e-6  # nor the code of the previous token


def test_copy_head_checks_its_arguments():
    llm = _qwen()
    with pytest.raises(ValueError, match="match_dims must be even"):
        init_copy_head(llm, torch.nn.Linear(192, 192, bias=False), match_dims=13)
    with pytest.raises(ValueError, match="Qwen2/Llama-style"):
        init_copy_head(torch.nn.Linear(4, 4), torch.nn.Linear(192, 192, bias=False))


def _frames2(emb, prev_proj, prev2_proj, toks, gen, noise=2.0):
    """Compressed frames carrying the codes of their two previous tokens."""
    zero = torch.zeros(1, emb.shape[1])
    prev = torch.cat([zero, emb[toks[:-1]]])
    prev2 = torch.cat([zero, zero, emb[toks[:-2]]])
    return (emb[toks] + prev_proj(prev) + prev2_proj(prev2)
            + noise * emb.std() * torch.randn(len(toks), emb.shape[1], generator=gen))


@torch.no_grad()
def test_two_token_copy_finds_the_frame_after_the_last_two_tokens():
    from espnet_tagspeech.model.copy_init import init_two_token_copy

    gen = torch.Generator().manual_seed(3)
    toks = torch.randint(20, 32, (80,), generator=gen)  # 12 tokens: each occurs ~7 times in the cut
    pairs = list(zip(toks[:-1].tolist(), toks[1:].tolist()))
    # answer positions j (token toks[j], after toks[j - 1]) whose two-token context is unique
    unique = [j for j in range(2, 79) if pairs.count((int(toks[j - 1]), int(toks[j]))) == 1]
    assert len(unique) > 30

    def attention(model, frames, layer):
        filler = emb.std() * torch.randn(200, 192, generator=gen)
        answer = emb[toks[1:79]]  # the answer copies the cut: position 280 + j - 1 holds toks[j]
        seq = torch.cat([frames, filler, answer])[None]
        out = model.model(inputs_embeds=seq, output_attentions=True)
        return out.attentions[layer][0, 0, 280:], model.lm_head(out.last_hidden_state)[0, 280:]

    llm = _qwen(layers=2)
    emb = llm.get_input_embeddings().weight
    p1, p2 = torch.nn.Linear(192, 192, bias=False), torch.nn.Linear(192, 192, bias=False)
    init_two_token_copy(llm, p1, p2, skip_ids=list(range(10)))
    att, logits = attention(llm, _frames2(emb, p1, p2, toks, gen, noise=1.0), layer=1)
    rows = torch.tensor(unique) - 1
    hit = (att[rows].argmax(-1) == torch.tensor(unique) + 1).float().mean()
    assert hit > 0.9, hit
    # the copied frame's token is the model's next-token guess
    guess = (logits[rows].argmax(-1) == toks[torch.tensor(unique) + 1]).float().mean()
    assert guess > 0.8, guess
    # the one-token look-up is ambiguous on these tokens
    one = _qwen()
    q1 = torch.nn.Linear(192, 192, bias=False)
    init_copy_head(one, q1, list(range(10)))
    att1, _ = attention(one, _frames(emb, q1, toks, gen, noise=1.0), layer=0)
    hit1 = (att1[rows].argmax(-1) == torch.tensor(unique) + 1).float().mean()
    assert hit1 < 0.6, hit1


def test_two_token_copy_checks_the_llm():
    from espnet_tagspeech.model.copy_init import init_two_token_copy

    lin = lambda: torch.nn.Linear(192, 192, bias=False)
    with pytest.raises(ValueError, match="at least two layers"):
        init_two_token_copy(_qwen(layers=1), lin(), lin())
    with pytest.raises(ValueError, match="does not fit"):
        init_two_token_copy(_qwen(layers=2), lin(), lin(), match_dims=30)


@torch.no_grad()
def test_line_codes_keep_the_look_up_in_the_line_being_written():
    from espnet_tagspeech.model.copy_init import init_two_token_copy

    llm = _qwen(layers=2)
    emb = llm.get_input_embeddings().weight
    p1, p2 = torch.nn.Linear(192, 192, bias=False), torch.nn.Linear(192, 192, bias=False)
    frame_lines, answer_lines = torch.nn.Embedding(16, 192), torch.nn.Embedding(16, 192)
    # as the model starts them: frames' lines at the embeddings' scale, the answer's at zero
    frame_lines.weight.normal_(std=float(emb.std()))
    answer_lines.weight.zero_()
    init_two_token_copy(llm, p1, p2, skip_ids=list(range(10)), lines=(frame_lines, answer_lines))
    gen = torch.Generator().manual_seed(5)
    # four lines of 10 tokens, each the same run "40 41 42" then other tokens
    toks, line = [], []
    for k in range(4):
        run = [40, 41, 42] + (torch.randperm(200, generator=gen)[:7] + 50).tolist()
        toks += run
        line += [k] * len(run)
    toks, line = torch.tensor(toks), torch.tensor(line)
    frames = _frames2(emb, p1, p2, toks, gen, noise=1.0) + frame_lines(line)
    filler = emb.std() * torch.randn(100, 192, generator=gen)
    # the answer is at line k, having written "40 41": the frame after is line k's 42
    def looked_up(model):
        out = []
        for k in range(4):
            answer = emb[torch.tensor([40, 41])] + answer_lines(torch.tensor([k, k]))
            seq = torch.cat([frames, filler, answer])[None]
            out.append(int(model.model(inputs_embeds=seq, output_attentions=True).attentions[1][0, 0, -1].argmax()))
        return out

    assert looked_up(llm) == [2, 12, 22, 32]
    # wired without the line codes, the same look-up cannot tell the four lines apart
    plain = _qwen(layers=2)
    plain.get_input_embeddings().weight.copy_(emb)
    init_two_token_copy(plain, torch.nn.Linear(192, 192, bias=False), torch.nn.Linear(192, 192, bias=False),
                        skip_ids=list(range(10)))
    assert looked_up(plain) != [2, 12, 22, 32]


@torch.no_grad()
def test_a_lora_wrapped_llm_gets_the_same_heads():
    """With LoRA (the LLM frozen, adapters added by peft) the heads are wired in the wrapped
    model's own weights, as without it; the wrapped model then computes what the bare one does."""
    from peft import LoraConfig, get_peft_model

    from espnet_tagspeech.model.copy_init import init_two_token_copy

    lin = lambda: torch.nn.Linear(192, 192, bias=False)  # noqa: E731
    torch.manual_seed(1)
    p1, p2 = lin(), lin()
    bare = _qwen(layers=2)
    init_two_token_copy(bare, p1, p2, skip_ids=list(range(10)))
    wrapped = get_peft_model(_qwen(layers=2), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                         task_type="CAUSAL_LM"))  # fmt: skip
    init_two_token_copy(wrapped, p1, p2, skip_ids=list(range(10)))
    base = wrapped.get_base_model()
    for name, value in bare.state_dict().items():
        assert torch.equal(base.state_dict()[name.replace("q_proj.", "q_proj.base_layer.").replace(
            "v_proj.", "v_proj.base_layer.")], value), name
    x = torch.randn(1, 12, 192)
    assert torch.allclose(wrapped(inputs_embeds=x).logits, bare(inputs_embeds=x).logits, atol=1e-5)
