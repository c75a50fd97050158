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

Keyed on the token just written alone, the look-up is ambiguous wherever that
token occurs twice in a cut (``the``), and greedy answers loop ("the demo the
demo").  :func:`init_two_token_copy` keys it on the last two tokens instead:

- the frames carry codes of their previous token (``prev_proj``, coordinates
  ``A``) and of the one before it (``prev2_proj``, coordinates ``B``);
- in the first layer, two heads of the last key/value group attend by position
  alone (constant queries and keys, rotary phases peaking at a distance of one
  and of zero): they write the code of the previous token into coordinates
  ``C`` and that of the current token into ``D`` of every position; nothing
  else in that layer writes there (its other heads and its MLP start at zero);
- head 0 of the second layer matches ``D`` and ``C`` against ``A`` and ``B``
  and copies the rest of the matched frame.

Everything else stays random and all of it trains; the heads are a starting
point, not a constraint.  Only for Hugging Face LLMs laid out like Qwen2/Llama
(``model.layers[i].self_attn.{q,k,v,o}_proj`` with biases on ``q`` and ``k``,
``model.rotary_emb.inv_freq``).
"""

import math
from typing import Optional, Tuple

import torch


def _unwrap(llm: torch.nn.Module) -> torch.nn.Module:
    """The causal LM itself, below a peft (LoRA) wrapper if any: the heads are wired in its
    weights, which LoRA leaves frozen and adapts."""
    return llm.get_base_model() if hasattr(llm, "get_base_model") else llm


def _layers(llm: torch.nn.Module) -> torch.nn.ModuleList:
    base = getattr(llm, "model", llm)
    layers = getattr(base, "layers", None)
    if layers is None or not hasattr(layers[0], "self_attn"):
        raise ValueError("copy_head_init needs a Qwen2/Llama-style LLM (model.layers[0].self_attn)")
    return layers


def _attention(llm: torch.nn.Module) -> torch.nn.Module:
    return _layers(llm)[0].self_attn


def _head_dim(attn: torch.nn.Module) -> int:
    return getattr(attn, "head_dim", None) or attn.q_proj.out_features // attn.config.num_attention_heads


def _copy_value(llm: torch.nn.Module, d: int, hd: int, reserved: int, skip_ids, gen) -> torch.Tensor:
    """A random ``(hd, d)`` value map blind to the first ``reserved`` coordinates and the skipped embeddings."""
    value = torch.randn(hd, d, generator=gen) / math.sqrt(d)
    out = torch.eye(d)[:reserved]
    if len(skip_ids):
        out = torch.cat([out, llm.get_input_embeddings().weight[list(skip_ids)].float()])
    return value - (value @ torch.linalg.pinv(out)) @ out


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
    llm = _unwrap(llm)
    attn = _attention(llm)
    d = prev_proj.weight.shape[0]
    hd = _head_dim(attn)
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
    # what is copied leaves out the code of the previous token (the first m coordinates)
    # and the skipped embeddings
    value = _copy_value(llm, d, hd, m, skip_ids, gen)
    attn.v_proj.weight[:hd] = value * math.sqrt(d / hd)
    attn.o_proj.weight[:, :hd] = copy_gain * emb_rms * value.t() * math.sqrt(d / hd)


def _position_bias(inv_freq: torch.Tensor, hd: int, shift: int, pairs: int, gain: float, kappa: float):
    """Constant query and key of a head that attends ``shift`` positions back.

    With rotary pairs ``(r, r + hd/2)`` turning at ``inv_freq[r]``, a query
    ``(gain / kappa) e^{-i shift theta}`` and a key ``kappa`` on the ``pairs``
    fastest pairs score ``gain * sum cos((distance - shift) theta)``: highest
    at ``distance == shift``.
    """
    half = hd // 2
    q, k = torch.zeros(hd), torch.zeros(hd)
    theta = inv_freq[:pairs].double()
    q[:pairs] = (gain / kappa * torch.cos(shift * theta)).float()
    q[half : half + pairs] = (-gain / kappa * torch.sin(shift * theta)).float()
    k[:pairs] = kappa
    return q, k


@torch.no_grad()
def init_two_token_copy(llm: torch.nn.Module, prev_proj: torch.nn.Linear, prev2_proj: torch.nn.Linear,
                        skip_ids=(), match_dims: Optional[int] = None, prev_gain: float = 8.0, code_gain: float = 5.0,
                        match_scale: float = 2.0, position_gain: float = 60.0, position_pairs: int = 8,
                        copy_gain: float = 16.0, seed: int = 0,
                        lines: Optional[Tuple[torch.nn.Embedding, torch.nn.Embedding]] = None,
                        line_dims: Optional[int] = None) -> None:
    """Wire a copy look-up keyed on the last two tokens (see the module doc).

    Args:
        llm: The Hugging Face causal LM (at least two layers; key/value groups
            of at least two query heads).
        prev_proj: The compressor's previous-token map (re-initialised).
        prev2_proj: The compressor's map of the token before it (re-initialised).
        skip_ids: Tokens whose embeddings the copy leaves out (the digits).
        match_dims: Size of each token code (even; default: the largest up to 8
            that fits the head and the width); the match uses the slowest rotary
            pairs of the second layer's head 0.
        prev_gain: Gain of the codes in the frames.
        code_gain: Gain of the codes the first layer writes (times the
            embeddings' RMS).
        match_scale: Gain of the second layer's query and key maps.
        position_gain: Peak score of the position heads (sharpness).
        position_pairs: Fastest rotary pairs the position heads use.
        copy_gain: Gain of the value and output maps (weight of the copied frame).
        seed: Seed of the random maps.
        lines: The frames' line-index embedding and the answer tokens' one
            (:mod:`~espnet_tagspeech.model.answer_lines`): line ``k`` starts as
            the ``k mod line_dims``-th unit code in coordinates ``E`` (frames)
            and ``F`` (answer), and the look-up also matches ``F`` against
            ``E``: it stays within the line being written.
        line_dims: Size of the line code (default ``match_dims``).

    Raises:
        ValueError: an LLM of another layout or too small for the wiring.
    """
    llm = _unwrap(llm)
    layers = _layers(llm)
    if len(layers) < 2:
        raise ValueError("a two-token copy head needs an LLM of at least two layers")
    a0, a1 = layers[0].self_attn, layers[1].self_attn
    d = prev_proj.weight.shape[0]
    hd = _head_dim(a0)
    half = hd // 2
    heads = a0.q_proj.out_features // hd
    kv_heads = a0.k_proj.out_features // hd
    group = heads // kv_heads
    blocks = 3 if lines is not None else 2  # codes matched per look-up
    if match_dims is None:
        match_dims = max(2, min(8, hd // blocks, d // (2 * blocks)) // 2 * 2)
    m = int(match_dims)
    ml = int(line_dims if line_dims is not None else m) if lines is not None else 0
    if group < 2 or a0.q_proj.bias is None or a0.k_proj.bias is None:
        raise ValueError("a two-token copy head needs key/value groups of >= 2 query heads and q/k biases")
    if m <= 0 or (2 * m + ml) % 2 or 2 * m + ml > hd or 4 * m + 2 * ml > d or position_pairs > half:
        raise ValueError(f"two-token copy: match_dims {m} does not fit head size {hd} / width {d}")
    inv_freq = getattr(getattr(llm, "model", llm), "rotary_emb").inv_freq
    gen = torch.Generator().manual_seed(seed)
    emb_rms = float(llm.get_input_embeddings().weight.float().pow(2).mean().sqrt())
    code_a = torch.randn(m, d, generator=gen) / math.sqrt(d)  # code of a frame's previous token
    code_b = torch.randn(m, d, generator=gen) / math.sqrt(d)  # code of the token before it
    blk_a, blk_b, blk_c, blk_d = (slice(i * m, (i + 1) * m) for i in range(4))
    blk_e, blk_f = slice(4 * m, 4 * m + ml), slice(4 * m + ml, 4 * m + 2 * ml)
    reserved = 4 * m + 2 * ml
    if lines is not None:
        # a unit code as loud as a whole token code (m numbers)
        for table, blk, gain in ((lines[0], blk_e, prev_gain), (lines[1], blk_f, code_gain)):
            rows = torch.arange(table.weight.shape[0])
            table.weight[:, blk] = 0
            table.weight[rows, blk.start + rows % ml] = gain * emb_rms * math.sqrt(m)
    for proj, code, blk in ((prev_proj, code_a, blk_a), (prev2_proj, code_b, blk_b)):
        proj.weight.zero_()
        proj.weight[blk] = prev_gain * code
    # layer 0: the last key/value group attends by position only
    kv = kv_heads - 1
    rows = slice(kv * hd, (kv + 1) * hd)
    prev_head, self_head = kv * group, kv * group + 1
    a0.k_proj.weight[rows] = 0
    a0.v_proj.weight[rows] = 0
    a0.v_proj.weight[kv * hd : kv * hd + m] = code_b  # what the previous-token head reads
    a0.v_proj.weight[kv * hd + m : kv * hd + 2 * m] = code_a  # what the current-token head reads
    if a0.v_proj.bias is not None:
        a0.v_proj.bias[rows] = 0
    a0.o_proj.weight.zero_()  # the layer's other heads (and its MLP) start silent
    layers[0].mlp.down_proj.weight.zero_()
    for head, shift, src, dst in ((prev_head, 1, 0, blk_c), (self_head, 0, m, blk_d)):
        q, k = _position_bias(inv_freq, hd, shift, position_pairs, position_gain, kappa=8.0)
        a0.q_proj.weight[head * hd : (head + 1) * hd] = 0
        a0.q_proj.bias[head * hd : (head + 1) * hd] = q
        a0.k_proj.bias[rows] = k
        a0.o_proj.weight[dst, head * hd + src : head * hd + src + m] = code_gain * emb_rms * torch.eye(m)
    # layer 1, head 0: D and C (the answer's current and previous token) against A and B (a
    # frame's previous two), and F against E (the line), on the slowest rotary pairs
    pairs = (2 * m + ml) // 2
    slow = list(range(half - pairs, half)) + list(range(hd - pairs, hd))
    w_q, w_k = a1.q_proj.weight, a1.k_proj.weight
    w_q[:hd].zero_()
    w_k[:hd].zero_()
    for lin in (a1.q_proj, a1.k_proj, a1.v_proj):
        if lin.bias is not None:
            lin.bias[:hd].zero_()
    eye = match_scale * torch.eye(m)
    w_q[slow[:m], blk_d] = eye
    w_q[slow[m : 2 * m], blk_c] = eye
    w_k[slow[:m], blk_a] = eye
    w_k[slow[m : 2 * m], blk_b] = eye
    if ml:
        w_q[slow[2 * m :], blk_f] = match_scale * torch.eye(ml)
        w_k[slow[2 * m :], blk_e] = match_scale * torch.eye(ml)
    value = _copy_value(llm, d, hd, reserved, skip_ids, gen)
    a1.v_proj.weight[:hd] = value * math.sqrt(d / hd)
    a1.o_proj.weight[:, :hd] = copy_gain * emb_rms * value.t() * math.sqrt(d / hd)
