"""Write tiny random-init pretrained parts to disk, in the formats real ones come in.

Creates, under ``--out_dir``:

* ``wavlm/``: a Hugging Face ``WavLMModel`` directory (``save_pretrained``),
* ``ecapa/``: an ESPnet speaker model (``config.yaml`` + ``model.pth`` with
  ``frontend.*`` / ``encoder.*`` weights),
* ``llm/``: a Hugging Face ``Qwen2ForCausalLM`` directory,
* ``token/tokenizer.model``: a sentencepiece tokenizer trained on ``--text`` (or on
  synthetic targets),
* ``config.yaml``: a training config loading the three parts with
  ``init: pretrained`` and ``local_files_only: true``.

Tests and the mini recipe use it to exercise the loading path without any
download.  Sizes follow ``conf/tuning/train_tagspeech_tiny.yaml``.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional


def build(out_dir: str, text: Optional[str] = None, vocab_size: int = 64, seed: int = 0) -> str:
    """Write the parts and a config; returns the config path."""
    import tempfile

    import torch
    import yaml

    from espnet_tagspeech.data.targets import read_targets
    from espnet_tagspeech.model.tokenizer import train_sentencepiece
    from espnet_tagspeech.data.atomic import atomic_write
    from espnet_tagspeech.model.llm import HFCausalLM
    from espnet_tagspeech.model.semantic import WavLMStream
    from espnet_tagspeech.model.speaker import EcapaStream
    from espnet_tagspeech.model.tiny import TINY_CONFIG, make_cuts

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if text is None:
        tmp = tempfile.mkdtemp(prefix="tiny_cuts_")
        make_cuts(tmp, 4)
        text = str(Path(tmp) / "text")
    spm = train_sentencepiece(read_targets(text), str(out / "token"), vocab_size)
    with open(TINY_CONFIG, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    torch.manual_seed(seed)

    sem_conf = cfg["semantic_encoder_conf"]
    WavLMStream(init="random", config=sem_conf["config"]).wavlm.save_pretrained(out / "wavlm")
    sem_conf.update(init="pretrained", model_name_or_path=str(out / "wavlm"), local_files_only=True)
    del sem_conf["config"]

    spk_conf = cfg["speaker_encoder_conf"]
    ecapa = EcapaStream(init="random", config=spk_conf["config"], frontend_conf=spk_conf["frontend_conf"])
    state = {f"frontend.{k}": v for k, v in ecapa.frontend.state_dict().items()}
    state.update({f"encoder.{k}": v for k, v in ecapa.encoder.state_dict().items()})
    (out / "ecapa").mkdir(exist_ok=True)
    with atomic_write(out / "ecapa" / "model.pth", "wb") as f:
        torch.save(state, f)
    fe_conf = {"n_mels": 80, "hop_length": 160, "log": True, "normalize": "mn"}
    fe_conf.update(spk_conf["frontend_conf"])
    espnet_cfg = {"frontend": "melspec_torch", "frontend_conf": fe_conf,
                  "encoder": "ecapa_tdnn", "encoder_conf": spk_conf["config"]}
    with atomic_write(out / "ecapa" / "config.yaml") as f:
        yaml.safe_dump(espnet_cfg, f)
    cfg["speaker_encoder_conf"] = {"init": "pretrained", "model_name_or_path": str(out / "ecapa"),
                                   "local_files_only": True, "freeze": spk_conf.get("freeze", True)}

    llm_conf = cfg["llm_conf"]
    llm = HFCausalLM(init="random", config=llm_conf["config"], tokenizer=spm, freeze=False)
    llm.model.save_pretrained(out / "llm")
    llm_conf.update(init="pretrained", model_name_or_path=str(out / "llm"), tokenizer=spm,
                    local_files_only=True)
    del llm_conf["config"]

    with atomic_write(out / "config.yaml") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    logging.info("tiny pretrained parts and config written to %s", out)
    return str(out / "config.yaml")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out_dir", required=True)
    p.add_argument("--text", default=None, help="Kaldi text of targets for the tokenizer")
    p.add_argument("--vocab_size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    build(args.out_dir, args.text, args.vocab_size, args.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
