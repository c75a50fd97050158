"""Build the CTC-derived prompt features of the model from its ``model_conf`` switches.

One home for how ``ctc_compress``, ``ctc_line_embed``, ``copy_head_init``,
``answer_line_embed`` and ``ctc_line_times`` fit together (which needs which),
so that :class:`~espnet_tagspeech.model.espnet_model.ESPnetTagSpeechModel`
only holds the parts this returns.
"""

from dataclasses import dataclass
from typing import Optional

import torch

from espnet_tagspeech.model.ctc_compress import CtcCompressor
from espnet_tagspeech.tsot import CHANNEL_CHANGE


def single_id(tokenizer, text: str) -> int:
    """The one token id of ``text``.

    Raises:
        ValueError: the tokenizer splits it.
    """
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        raise ValueError(f"the tokenizer encodes {text!r} as {len(ids)} tokens; t-SOT "
                         "features need it as one (train it with bin/train_tokenizer.py)")
    return int(ids[0])


@dataclass
class CtcFeatures:
    """The parts (each ``None`` when off)."""

    compressor: Optional[CtcCompressor] = None
    answer_lines: Optional[torch.nn.Module] = None
    line_speller: Optional[object] = None


def build_ctc_features(
    llm,
    semantic_encoder,
    semantic_projector,
    anchor_spacing: float,
    ctc_compress: bool,
    ctc_order: str,
    ctc_channels: int,
    copy_head_init: int,
    ctc_line_embed: int,
    answer_line_embed: int,
    ctc_line_times: bool,
    frame_clock: bool,
    ctc_line_gap: float = 0.0,
) -> CtcFeatures:
    """The compressor, answer-line embedding and line-time speller the switches ask for,
    with the LLM's copy head wired to them (arguments: the model's, see its docstring).

    Raises:
        ValueError: a switch without the ones it needs, naming the ``model_conf`` keys.
    """
    time_order = ctc_compress and ctc_order == "time"
    if ctc_line_embed and not time_order:
        raise ValueError("model_conf ctc_line_embed needs ctc_compress and ctc_order 'time'")
    if copy_head_init not in (0, 1, 2):  # False / True are 0 / 1
        raise ValueError(f"model_conf copy_head_init must be false, true (1) or 2, got {copy_head_init!r}")
    copy_context = int(copy_head_init)
    if copy_context == 2 and not time_order:
        raise ValueError("model_conf copy_head_init 2 keys on t-SOT channels: set ctc_compress and ctc_order 'time'")
    if ctc_line_times and (copy_context != 2 or frame_clock):
        raise ValueError("model_conf ctc_line_times needs copy_head_init 2 and frame_clock false "
                         "(the copy head then copies digits, which the frames must not carry)")
    if ctc_line_gap and not ctc_line_times:
        raise ValueError("model_conf ctc_line_gap splits the lines of ctc_line_times: set ctc_line_times")
    if answer_line_embed and not ctc_line_embed:
        raise ValueError("model_conf answer_line_embed mirrors the frames' line indices: set ctc_line_embed")
    if copy_context and not ctc_compress:
        raise ValueError("model_conf copy_head_init wires the LLM to ctc_compress's frames: set ctc_compress")
    out = CtcFeatures()
    if not ctc_compress:
        return out
    from espnet_tagspeech.model.answer_lines import line_first_spellings
    from espnet_tagspeech.serialization import TEXT_CLOSE, TEXT_OPEN

    tok = llm.tokenizer
    d = llm.hidden_size()
    digits = llm.embed_tokens.weight.detach()[torch.tensor(llm.digit_ids)]
    symbols = (single_id(tok, CHANNEL_CHANGE), single_id(tok, "\n")) if ctc_order == "time" else None
    two = copy_context == 2
    out.compressor = comp = CtcCompressor(
        d,
        semantic_projector.ds_rate,
        semantic_encoder.frame_shift,
        anchor_spacing,
        digits,
        channels=int(ctc_channels) if (ctc_line_embed or two) else 0,
        symbol_ids=symbols,
        line_embed=int(ctc_line_embed),
        prev_context=2 if two else 1,
        line_start_id=single_id(tok, ">") if two else None,
        line_first_ids=line_first_spellings(tok) if two else None,
        tenths=not ctc_line_times,
    )
    if ctc_line_times:
        from espnet_tagspeech.model.line_times import TIME_CHARS, LineTimeSpeller

        out.line_speller = LineTimeSpeller(
            {c: single_id(tok, c) for c in TIME_CHARS}, single_id(tok, TEXT_OPEN), single_id(tok, "\n"),
            semantic_encoder.frame_shift, float(ctc_line_gap),
        )
    if answer_line_embed:
        from espnet_tagspeech.model.answer_lines import AnswerLineEmbedding

        out.answer_lines = AnswerLineEmbedding(
            int(answer_line_embed), d, single_id(tok, TEXT_OPEN), single_id(tok, TEXT_CLOSE), single_id(tok, "\n")
        )
    if copy_context:
        from espnet_tagspeech.model.copy_init import init_copy_head, init_two_token_copy

        if two:
            lines = (comp.line_embed, out.answer_lines.table) if out.answer_lines is not None else None
            skip = () if ctc_line_times else llm.digit_ids  # the block's digits are copied
            init_two_token_copy(llm.model, comp.prev_proj, comp.prev2_proj, skip, lines=lines)
        else:
            init_copy_head(llm.model, comp.prev_proj, llm.digit_ids)
    return out
