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
