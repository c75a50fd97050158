"""Pre-train the semantic encoder of a small random-init model with SOT-CTC.

A random-init WavLM learns to align far faster from a CTC loss on the
serialized transcript (the text lines' words in time order, a newline between
lines as the speaker-change symbol) than from the LLM's loss alone.  This
trains the semantic encoder and a CTC head on the cuts and writes
``<output_dir>/init.pth`` for ``tagspeech_train --init_param``.

The ``--config`` yaml names the model and the schedule::

    model_config: conf/tuning/train_tagspeech_mini.yaml
    steps: 400
    lr: 0.002
    batch_size: 8
    max_cut_sec: 20

Example::

    python -m espnet_tagspeech.bin.pretrain --config conf/tuning/pretrain_mini.yaml \\
        --train_dir data/train_cuts --valid_dir data/dev_cuts \\
        --tokenizer data/token/tokenizer.model --output_dir exp/pretrain
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

_KEYS = {"model_config", "steps", "lr", "batch_size", "max_cut_sec", "seed"}


def load_cuts(data_dir: str, tokenizer, sample_rate: int, max_sec: float) -> List[Tuple[str, np.ndarray, List[int]]]:
    """``(key, waveform, SOT-CTC token ids)`` of every cut not longer than ``max_sec``."""
    from tqdm import tqdm

    from espnet_tagspeech.data.kaldi import load_audio, read_text, read_wav_scp
    from espnet_tagspeech.serialization import line_to_target
    from espnet_tagspeech.tasks.preprocessor import check_waveform, sot_transcript

    d = Path(data_dir)
    wavs, texts = read_wav_scp(d / "wav.scp"), read_text(d / "text")
    out = []
    for key, entry in tqdm(wavs.items(), desc=f"load {d.name}", unit="cut"):
        if key not in texts:
            continue
        wav, rate = load_audio(entry, key=key)
        wav = check_waveform(wav, key, str(d / "wav.scp"), rate, sample_rate)
        if len(wav) > max_sec * sample_rate:
            continue
        out.append((key, wav, tokenizer.encode(sot_transcript(line_to_target(texts[key])))))
    if not out:
        raise ValueError(f"{data_dir}: no usable cuts (wav.scp and text keys, <= {max_sec} s)")
    return out


def _batch(items, device):
    import torch

    lens = torch.tensor([len(w) for _, w, _ in items])
    speech = torch.zeros(len(items), int(lens.max()))
    tlen = torch.tensor([len(t) for _, _, t in items])
    text = torch.full((len(items), max(1, int(tlen.max()))), -1, dtype=torch.long)
    for i, (_, w, t) in enumerate(items):
        speech[i, : len(w)] = torch.from_numpy(w)
        text[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    return speech.to(device), lens.to(device), text.to(device), tlen.to(device)


def pretrain(conf: Dict, train_dir: str, valid_dir: str, tokenizer: Optional[str],
             output_dir: str, device: str = "cpu") -> Dict[str, float]:
    """Run SOT-CTC pre-training; returns first/last train loss and the valid loss."""
    import torch
    import yaml
    from tqdm import tqdm

    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.model.tiny import build_args
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    unknown = set(conf) - _KEYS
    if unknown or "model_config" not in conf:
        raise ValueError(f"pretrain config: unknown keys {sorted(unknown)} or no model_config; valid: {sorted(_KEYS)}")
    args = build_args(conf["model_config"])
    if tokenizer:
        args.llm_conf = {**args.llm_conf, "tokenizer": tokenizer}
    torch.manual_seed(int(conf.get("seed", 0)))
    model = TagSpeechTask.build_model(args).to(device)
    enc = model.semantic_encoder
    if enc.frozen:
        raise ValueError("the semantic encoder is frozen in the model config: nothing to pre-train")
    head = model.ctc_head or torch.nn.Linear(enc.output_size(), model.llm.tokenizer.vocab_size + 1)
    head.to(device)
    tok = model.llm.tokenizer
    rate = int(getattr(args, "sample_rate", 16000))
    max_sec = float(conf.get("max_cut_sec", 20.0))
    train_set = load_cuts(train_dir, tok, rate, max_sec)
    valid_set = load_cuts(valid_dir, tok, rate, max_sec)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.Adam([p for p in params if p.requires_grad], lr=float(conf.get("lr", 2e-3)))
    bsz = int(conf.get("batch_size", 8))
    rng = np.random.default_rng(int(conf.get("seed", 0)))

    def ctc_loss(items):
        speech, lens, text, tlen = _batch(items, device)
        feats, flen = enc(speech, lens)
        logp = torch.log_softmax(head(feats).float(), -1).transpose(0, 1)
        return torch.nn.functional.ctc_loss(logp, text.clamp(min=0), flen, tlen,
                                            blank=logp.shape[-1] - 1, zero_infinity=True)

    enc.train()
    losses = []
    for step in tqdm(range(int(conf.get("steps", 400))), desc="SOT-CTC", unit="step"):
        idx = rng.choice(len(train_set), size=min(bsz, len(train_set)), replace=False)
        loss = ctc_loss([train_set[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(float(loss))
        if step % 20 == 0:
            logging.info("step %d: ctc loss %.3f", step, float(loss))
    enc.eval()
    with torch.no_grad():
        valid = [float(ctc_loss(valid_set[i : i + bsz])) for i in range(0, len(valid_set), bsz)]
    state = {f"semantic_encoder.{k}": v.cpu() for k, v in enc.state_dict().items()}
    if model.ctc_head is not None:
        state.update({f"ctc_head.{k}": v.cpu() for k, v in head.state_dict().items()})
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "init.pth", "wb") as f:
        torch.save(state, f)
    result = {"first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),
              "valid_loss": float(np.mean(valid))}
    with atomic_write(out / "pretrain_result.yaml") as f:
        yaml.safe_dump(result, f)
    logging.info("wrote %s: %s", out / "init.pth", result)
    return result


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="pretrain yaml (model_config, steps, lr, ...)")
    p.add_argument("--train_dir", required=True, help="cuts data dir (wav.scp, text)")
    p.add_argument("--valid_dir", required=True)
    p.add_argument("--tokenizer", default=None, help="overrides llm_conf.tokenizer")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="overrides the config's steps")
    return p


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point."""
    import yaml

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(args.config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    if args.steps is not None:
        conf["steps"] = args.steps
    pretrain(conf, args.train_dir, args.valid_dir, args.tokenizer, args.output_dir,
             "cuda" if args.ngpu > 0 else "cpu")


if __name__ == "__main__":
    main(sys.argv[1:])
