"""The frozen decoder-only LLM (Hugging Face causal LM) and the prompt layout.

The LLM is loaded from a local directory or hub id, or built random-init from
an inline config (tests, the mini recipe).  It can be frozen, or adapted with
LoRA through ``peft``.  The prompt is one user turn holding the instruction and
``<text>[semantic]</text>\\n<speaker>[speaker]</speaker>``, rendered with the
tokenizer's chat template when it has one, else a fixed plain layout.
"""

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from espnet_tagspeech.model.tokenizer import AbsTokenizer, build_tokenizer

DEFAULT_INSTRUCTION = (
    "Transcribe the meeting: who spoke what and when. Give each utterance with its "
    "start-end time in seconds, then each speaker's gender and time ranges."
)
_SEM = "\u0001TAGSPEECH_SEMANTIC\u0001"
_SPK = "\u0001TAGSPEECH_SPEAKER\u0001"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


_STREAM_ORDERS = ("text_first", "speaker_first")


def user_content(
    instruction: str, semantic: str = _SEM, speaker: str = _SPK, stream_order: str = "text_first"
) -> str:
    """The user turn with placeholders where the two anchored streams go."""
    text, spk = f"<text>{semantic}</text>", f"<speaker>{speaker}</speaker>"
    first, second = (text, spk) if stream_order == "text_first" else (spk, text)
    return f"{instruction}\n{first}\n{second}"


def prompt_pieces(
    tokenizer: AbsTokenizer, instruction: str, stream_order: str = "text_first"
) -> Tuple[List[int], ...]:
    """Token ids of the prompt around the streams: ``(prefix, middle, suffix)``.

    The prompt is ``prefix [first stream] middle [second stream] suffix`` (the
    semantic stream first unless ``stream_order`` is ``speaker_first``) and the
    answer follows the suffix directly.
    """
    if stream_order not in _STREAM_ORDERS:
        raise ValueError(f"llm_conf stream_order must be one of {_STREAM_ORDERS}, got {stream_order!r}")
    content = user_content(instruction, stream_order=stream_order)
    rendered = tokenizer.chat_prompt(content)
    if rendered is None:
        rendered = content + "\nAnswer:\n"
    first, second = (_SEM, _SPK) if stream_order == "text_first" else (_SPK, _SEM)
    head, rest = rendered.split(first)
    mid, tail = rest.split(second)
    return tokenizer.encode(head), tokenizer.encode(mid), tokenizer.encode(tail)


class HFCausalLM(torch.nn.Module):
    """A Hugging Face causal LM with its tokenizer and the TagSpeech prompt.

    Args:
        model_name_or_path: Local directory or hub id of a pretrained LLM.
        init: ``"pretrained"`` (load ``model_name_or_path``) or ``"random"``
            (build from ``config``).
        config: Inline ``transformers`` config for ``init: random``;
            ``model_type`` defaults to ``qwen2`` and ``vocab_size`` to the
            tokenizer's size.
        tokenizer: Sentencepiece ``.model`` file or HF tokenizer dir / hub id;
            defaults to ``model_name_or_path``.
        local_files_only: Never download (default).
        freeze: Keep the LLM's own weights fixed.
        lora: Optional ``{r, alpha, dropout, target_modules}``: add LoRA adapters
            (the base stays frozen, only the adapters train).
        dtype: ``float32``, ``bfloat16`` or ``float16`` for the LLM weights.
        instruction: The instruction text in the prompt.
        stream_order: ``text_first`` (the paper: semantic stream, then speaker
            stream) or ``speaker_first``, which puts the semantic stream next
            to the answer (a small LLM trained from scratch learns to copy
            words from it far sooner over a short distance).
    """

    def __init__(
        self,
        model_name_or_path: Optional[str] = None,
        init: str = "pretrained",
        config: Optional[Dict] = None,
        tokenizer: Optional[str] = None,
        local_files_only: bool = True,
        freeze: bool = True,
        lora: Optional[Dict] = None,
        dtype: str = "float32",
        instruction: str = DEFAULT_INSTRUCTION,
        stream_order: str = "text_first",
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModelForCausalLM

        if dtype not in _DTYPES:
            raise ValueError(f"llm_conf dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.tokenizer = build_tokenizer(tokenizer, model_name_or_path, local_files_only)
        if init == "random":
            cfg = dict(config or {})
            model_type = cfg.pop("model_type", "qwen2")
            cfg.setdefault("vocab_size", self.tokenizer.vocab_size)
            hf_config = AutoConfig.for_model(model_type, **cfg)
            model = AutoModelForCausalLM.from_config(hf_config)
            model.to(_DTYPES[dtype])
        elif init == "pretrained":
            if not model_name_or_path:
                raise ValueError("llm_conf: init 'pretrained' needs model_name_or_path")
            model = AutoModelForCausalLM.from_pretrained(
                model_name_or_path, local_files_only=local_files_only, dtype=_DTYPES[dtype]
            )
        else:
            raise ValueError(f"llm_conf init must be 'pretrained' or 'random', got {init!r}")
        rows = model.get_input_embeddings().weight.shape[0]
        if self.tokenizer.vocab_size > rows:
            raise ValueError(
                f"tokenizer has {self.tokenizer.vocab_size} ids but the LLM embeds only "
                f"{rows}; use the LLM's own tokenizer or a larger vocab_size"
            )
        self.digit_ids = self.tokenizer.digit_ids()
        self.instruction = instruction
        self.speaker_first = stream_order == "speaker_first"
        self.prefix_ids, self.middle_ids, self.suffix_ids = prompt_pieces(
            self.tokenizer, instruction, stream_order
        )
        self.freeze = bool(freeze) or bool(lora)
        if self.freeze:
            for p in model.parameters():
                p.requires_grad_(False)
        if lora:
            if not freeze:
                raise ValueError("llm_conf: lora adapts a frozen LLM; set freeze: true")
            model = self._add_lora(model, lora)
        self.model = model
        self.has_lora = bool(lora)
        self.train(self.training)

    def train(self, mode: bool = True) -> "HFCausalLM":
        """Train mode, except that a fully frozen LLM stays in eval mode."""
        return super().train(mode and not (self.freeze and not self.has_lora))

    @staticmethod
    def _add_lora(model: torch.nn.Module, lora: Dict) -> torch.nn.Module:
        from peft import LoraConfig, get_peft_model

        unknown = set(lora) - {"r", "alpha", "dropout", "target_modules"}
        if unknown:
            raise ValueError(
                f"llm_conf.lora: unknown keys {sorted(unknown)}; "
                "valid: r, alpha, dropout, target_modules"
            )
        cfg = LoraConfig(
            r=int(lora.get("r", 8)),
            lora_alpha=int(lora.get("alpha", 16)),
            lora_dropout=float(lora.get("dropout", 0.0)),
            target_modules=list(lora.get("target_modules", ["q_proj", "v_proj"])),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, cfg)

    def _base(self) -> torch.nn.Module:
        """The underlying ``*ForCausalLM`` (below a peft wrapper if any)."""
        return self.model.get_base_model() if self.has_lora else self.model

    def hidden_size(self) -> int:
        """Width of the LLM's input embeddings."""
        return int(self._base().get_input_embeddings().weight.shape[1])

    @property
    def embed_tokens(self) -> torch.nn.Module:
        """The input embedding module."""
        return self._base().get_input_embeddings()

    def embed_ids(self, ids: Sequence[int], device: torch.device) -> torch.Tensor:
        """Input embeddings of a list of ids, ``(len(ids), D)``."""
        return self.embed_tokens(torch.tensor(list(ids), dtype=torch.long, device=device))

    def hidden_states(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        """Last hidden states of the decoder stack (no LM head), ``(B, T, D)``."""
        decoder = self._base().get_decoder()
        out = decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        )
        return out.last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Apply the LM head."""
        return self._base().get_output_embeddings()(hidden)

    @torch.no_grad()
    def generate(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        max_new_tokens: int = 800,
        num_beams: int = 1,
        logits_processor=None,
    ) -> List[List[int]]:
        """Decode answers for left-padded prompts; returns ids up to (not incl.) EOS.

        ``generate`` derives the positions from the attention mask, so each
        left-padded prompt sees positions 0, 1, ... as it would alone.
        ``logits_processor`` (a ``transformers`` logits processor, e.g. joint
        CTC scoring) sees the answer tokens generated so far.
        """
        from transformers import LogitsProcessorList

        eos = self.tokenizer.eos_id
        if logits_processor is not None and not isinstance(logits_processor, (list, tuple)):
            logits_processor = [logits_processor]
        extra = {"logits_processor": LogitsProcessorList(logits_processor)} if logits_processor else {}
        out = self.model.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=eos,
            **extra,
        )
        results = []
        for row in out.tolist():
            ids = row[: row.index(eos)] if eos in row else row
            results.append(ids)
        return results


def count_parameters(module: torch.nn.Module) -> Tuple[int, int]:
    """``(trainable, total)`` parameter counts of a module."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total


def log_parameters(named: Dict[str, torch.nn.Module]) -> None:
    """Log trainable vs total parameters per part."""
    for name, mod in named.items():
        tr, tot = count_parameters(mod)
        logging.info("%s: %s trainable / %s total parameters", name, f"{tr:,}", f"{tot:,}")
