"""Start a random-init LLM with a copy head wired to the compressed semantic stream.

A small LLM trained from scratch learns to continue its own text long before it
learns to look words up in its prompt: after a few hundred updates the mini
model predicts the words of its answer as well with another cut's audio as with
its own.  A pre-trained LLM has such look-up heads already (induction heads).
This gives the random-init one a head of that kind at step zero:

- the compressed stream's previous-token feature
  (:class:`~espnet_tagspeech.model.ctc_compress.CtcCompressor` ``prev_proj``)
  starts as a random code of the previous token written into the first
  ``match_dims`` coordinates of the frame (``prev_gain`` times louder than the
  frame's other parts there);
- head 0 of the first layer computes the same code from the token just written
  (its query) and reads those coordinates of each frame (its key), on the
  lowest rotary frequencies only (rotary position encoding turns the other
  dimensions' dot products with distance): the frame that follows the token
  just written matches;
- its value and output maps copy the rest of the matched frame (whose CTC
  feature is the embedding of that frame's own token, the next one to write)
  into the residual stream.

Everything else stays random and all of it trains; the head is a starting point,
not a constraint.  Only for Hugging Face LLMs laid out like Qwen2/Llama
(``model.layers[i].self_attn.{q,k,v,o}_proj``).
"""

import math
from typing import Optional

import torch


def _attention(llm: torch.nn.Module) -> torch.nn.Module:
    base = getattr(llm, "model", llm)
    layers = getattr(base, "layers", None)
    if layers is None or not hasattr(layers[0], "self_attn"):
        raise ValueError("copy_head_init needs a Qwen2/Llama-style LLM (model.layers[0].self_attn)")
    return layers[0].self_attn


@torch.no_grad()
def init_copy_head(llm: torch.nn.Module, prev_proj: torch.nn.Linear, skip_ids=(), match_dims: Optional[int] = None,
                   prev_gain: float = 8.0, match_scale: float = 4.0, copy_gain: float = 16.0,
                   seed: int = 0) -> None:
    """Wire head 0 of ``llm``'s first layer as a copy head (see the module doc).

    Args:
        llm: The Hugging Face causal LM.
        prev_proj: The compressor's previous-token map (re-initialised).
        skip_ids: Tokens whose embeddings the copy leaves out (the digits: the
            frames' time features are digit embeddings, not words to copy).
        match_dims: Size of the token code (the head's lowest-frequency rotary
            dimensions; even, at most the head size; default 12 or the head size).
        prev_gain: Gain of the code in the frames.
        match_scale: Gain of the query and key maps (sharpness of the match).
        copy_gain: Gain of the value and output maps (weight of the copied frame).
        seed: Seed of the random maps.

    Raises:
        ValueError: an LLM of another layout, or ``match_dims`` not fitting the head.
    """
    attn = _attention(llm)
    d = prev_proj.weight.shape[0]
    hd = getattr(attn, "head_dim", None) or attn.q_proj.out_features // attn.config.num_attention_heads
    if match_dims is None:
        match_dims = min(12, hd - hd % 2)
    if match_dims % 2 or not 0 < match_dims <= hd:
        raise ValueError(f"copy_head_init match_dims must be even and in (0, {hd}], got {match_dims}")
    gen = torch.Generator().manual_seed(seed)
    m = match_dims
    # a code of each token: m numbers of unit variance for a unit-RMS embedding
    code = torch.randn(m, d, generator=gen) / math.sqrt(d)
    emb_rms = float(llm.get_input_embeddings().weight.float().pow(2).mean().sqrt())
    prev_proj.weight.zero_()
    prev_proj.weight[:m] = prev_gain * code
    # rotate_half pairs dimension i with i + hd/2 at frequency base^(-2i/hd): the pairs
    # with the largest i turn slowest with distance
    half = hd // 2
    dims = list(range(half - m // 2, half)) + list(range(hd - m // 2, hd))
    w_q, w_k = attn.q_proj.weight, attn.k_proj.weight
    w_q[:hd].zero_()
    w_k[:hd].zero_()
    # inputs reach the projections RMS-normalised (unit RMS): code @ x has unit variance
    w_q[dims] = match_scale * code
    w_k[dims, :m] = match_scale * torch.eye(m)
    for lin in (attn.q_proj, attn.k_proj, attn.v_proj):
        if lin.bias is not None:
            lin.bias[:hd].zero_()
    value = torch.randn(hd, d, generator=gen) / math.sqrt(d)
    # what is copied leaves out the code of the previous token (the first m coordinates)
    # and the skipped embeddings: project them out of the value map
    out = torch.eye(d)[:m]
    if len(skip_ids):
        out = torch.cat([out, llm.get_input_embeddings().weight[list(skip_ids)].float()])
    value = value - (value @ torch.linalg.pinv(out)) @ out
    attn.v_proj.weight[:hd] = value * math.sqrt(d / hd)
    attn.o_proj.weight[:, :hd] = copy_gain * emb_rms * value.t() * math.sqrt(d / hd)
