"""Model figures: parameter counts, CPU training-step time, decode real-time factor.

Prints (never asserts):

* parameters (trainable / total) of the tiny, mini and production configs;
  production parts are built on the ``meta`` device from configs written
  inline (WavLM-large, ECAPA-TDNN 1024, Qwen2.5-7B): nothing is downloaded;
* CPU seconds per training step of the mini config at a realistic batch;
* decode real-time factor of the mini model (random weights, greedy, a fixed
  number of new tokens since a random model never stops on its own).

Run: ``python bench/bench_model.py [--batch 8 --cut_sec 8 --steps 3]``.
"""

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]

WAVLM_LARGE = dict(
    hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
    conv_dim=[512] * 7, feat_extract_norm="layer", do_stable_layer_norm=True,
    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, num_buckets=320,
    max_bucket_distance=800,
)
QWEN25_7B = dict(
    hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
    num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768,
    tie_word_embeddings=False, rope_theta=1000000.0,
)
ECAPA_1024 = dict(ndim=1024, model_scale=8, output_size=1536)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def production_counts() -> Dict[str, int]:
    """Parameter counts of the production parts, built on the meta device."""
    from espnet2.spk.encoder.ecapa_tdnn_encoder import EcapaTdnnEncoder
    from transformers import Qwen2Config, Qwen2ForCausalLM, WavLMConfig, WavLMModel

    from espnet_tagspeech.model.projector import StackMLPProjector

    cfg = yaml.safe_load((REPO / "conf/tuning/train_tagspeech_production.yaml").read_text())
    with torch.device("meta"):
        parts = {
            "semantic_encoder (WavLM-large)": WavLMModel(WavLMConfig(**WAVLM_LARGE)),
            "speaker_encoder (ECAPA-TDNN)": EcapaTdnnEncoder(input_size=80, **ECAPA_1024),
            "semantic_projector": StackMLPProjector(
                1024, QWEN25_7B["hidden_size"], cfg["semantic_projector_conf"]["ds_rate"]),
            "speaker_projector": StackMLPProjector(
                ECAPA_1024["output_size"], QWEN25_7B["hidden_size"],
                cfg["speaker_projector_conf"]["ds_rate"]),
            "llm (Qwen2.5-7B)": Qwen2ForCausalLM(Qwen2Config(**QWEN25_7B)),
        }
    return {k: _count(v) for k, v in parts.items()}


def _targets(n: int, cut_sec: float, rng: np.random.Generator):
    from espnet_tagspeech.data.turn import Turn
    from espnet_tagspeech.serialization import serialize

    words = "HELLO OKAY YES NO MAYBE THERE RIGHT SO WELL UM THE MEETING".split()
    out = []
    for i in range(n):
        turns, t = [], 0.0
        while t < cut_sec - 1.0:
            dur = float(rng.uniform(0.8, 2.5))
            text = " ".join(rng.choice(words, size=int(rng.integers(2, 7))))
            turns.append(Turn.from_text("c", "AB"[len(turns) % 2], round(t, 2),
                                        round(min(t + dur, cut_sec), 2), text, "fm"[len(turns) % 2]))
            t += dur * float(rng.uniform(0.6, 1.1))
        out.append(serialize(turns))
    return out


def build(config: str, tokenizer: str, overrides: Dict = None):
    """Build a model from a repo config with the given tokenizer."""
    from espnet_tagspeech.model.tiny import merge_config
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    args = TagSpeechTask.get_parser().parse_args([])
    cfg = yaml.safe_load((REPO / config).read_text())
    cfg["llm_conf"]["tokenizer"] = tokenizer
    merge_config(cfg, overrides or {})
    for k, v in cfg.items():
        setattr(args, k, v)
    torch.manual_seed(0)
    return TagSpeechTask.build_model(args), cfg


def step_time(model, cfg, targets, cut_sec: float, steps: int) -> float:
    """Mean seconds per optimizer step (forward + backward + Adam)."""
    tok = model.llm.tokenizer
    n = len(targets)
    speech = torch.randn(n, int(cut_sec * 16000)) * 0.1
    lens = torch.full((n,), speech.shape[1])
    ids = [tok.encode(t) for t in targets]
    text = torch.full((n, max(map(len, ids))), -1)
    for i, x in enumerate(ids):
        text[i, : len(x)] = torch.tensor(x)
    tlen = torch.tensor([len(x) for x in ids])
    extra = {}
    if model.ctc_head is not None:
        from espnet_tagspeech.tasks.preprocessor import sot_transcript

        ctc = [tok.encode(sot_transcript(t)) for t in targets]
        ctc_text = torch.full((n, max(map(len, ctc))), -1)
        for i, x in enumerate(ctc):
            ctc_text[i, : len(x)] = torch.tensor(x)
        extra = {"ctc_text": ctc_text, "ctc_text_lengths": torch.tensor([len(x) for x in ctc])}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    model.train()
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        loss, _, _ = model(speech, lens, text, tlen, **extra)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if s:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return float(np.mean(times)), float(np.mean([len(x) for x in ids]))


def decode_rtf(model, cut_sec: float, new_tokens: int) -> float:
    """Decode seconds per second of audio (greedy, ``new_tokens`` tokens)."""
    model.eval()
    speech = torch.randn(1, int(cut_sec * 16000)) * 0.1
    with torch.no_grad():
        t0 = time.perf_counter()
        emb, mask = model.generation_inputs(speech, torch.tensor([speech.shape[1]]))
        out = model.llm.model.generate(inputs_embeds=emb, attention_mask=mask, do_sample=False,
                                       max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       pad_token_id=model.llm.tokenizer.eos_id)
        dt = time.perf_counter() - t0
    assert out.shape[1] == new_tokens
    return dt / cut_sec


def main() -> None:
    """Print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cut_sec", type=float, default=8.0)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--skip_production", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    from espnet_tagspeech.model.tokenizer import train_sentencepiece
    from espnet_tagspeech.model.llm import count_parameters

    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="bench_model_"))
    targets = _targets(64, args.cut_sec, rng)
    spm = train_sentencepiece(targets, str(work / "token"), 300)

    print(f"torch threads: {torch.get_num_threads()}")
    for name, conf in (("tiny", "conf/tuning/train_tagspeech_tiny.yaml"),
                       ("mini", "conf/tuning/train_tagspeech_mini.yaml")):
        model, cfg = build(conf, spm)
        tr, tot = count_parameters(model)
        print(f"[{name}] parameters: {tot:,} total, {tr:,} trainable "
              f"(vocab {model.llm.tokenizer.vocab_size})")
        for part in ("semantic_encoder", "speaker_encoder", "semantic_projector",
                     "speaker_projector", "llm"):
            print(f"    {part}: {_count(getattr(model, part)):,}")
        if name == "mini":
            sec, ntok = step_time(model, cfg, targets[: args.batch], args.cut_sec, args.steps)
            print(f"[mini] CPU training step: {sec:.2f} s at batch {args.batch} x "
                  f"{args.cut_sec:g} s audio, ~{ntok:.0f} target tokens per cut")
            for ntoks in (100, 300):
                rtf = decode_rtf(model, args.cut_sec, ntoks)
                print(f"[mini] decode RTF: {rtf:.3f} ({args.cut_sec:g} s cut, {ntoks} greedy tokens)")
    if not args.skip_production:
        counts = production_counts()
        total = sum(counts.values())
        trainable = sum(v for k, v in counts.items() if "projector" in k) + WAVLM_LARGE["num_hidden_layers"] + 1
        print(f"[production] parameters: {total:,} total, {trainable:,} trainable "
              "(projectors + WavLM layer weights)")
        for k, v in counts.items():
            print(f"    {k}: {v:,}")


if __name__ == "__main__":
    main()
