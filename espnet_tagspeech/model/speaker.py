"""Speaker stream: frame-level ECAPA-TDNN features (before pooling).

Built on ESPnet's :class:`EcapaTdnnEncoder` with an ESPnet mel frontend.  Each
item is encoded alone: the squeeze-excitation blocks average over time, so
padding would leak into the features of shorter items.
"""

import contextlib
import glob
import logging
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from espnet_tagspeech.model.abs_stream import AbsStream, freeze_module, pad_list

_FRONTENDS = ("melspec_torch", "default")


def _build_frontend(name: str, conf: Dict) -> torch.nn.Module:
    if name == "melspec_torch":
        from espnet2.asr.frontend.melspec_torch import MelSpectrogramTorch

        return MelSpectrogramTorch(**conf)
    if name == "default":
        from espnet2.asr.frontend.default import DefaultFrontend

        return DefaultFrontend(**conf)
    raise ValueError(f"speaker_encoder_conf frontend {name!r} unknown; valid: {_FRONTENDS}")


def _resolve_checkpoint(model_name_or_path: str, local_files_only: bool) -> Tuple[str, Optional[str]]:
    """Find ``(model .pth, config.yaml or None)`` of an ESPnet speaker model."""
    path = Path(model_name_or_path)
    if not path.exists():
        if local_files_only:
            raise FileNotFoundError(
                f"speaker model {model_name_or_path!r} not found locally "
                "(set local_files_only: false to fetch a hub id)"
            )
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(model_name_or_path))
    if path.is_file():
        cfg = path.parent / "config.yaml"
        return str(path), str(cfg) if cfg.is_file() else None
    pths = sorted(glob.glob(os.path.join(path, "**", "*.pth"), recursive=True))
    if not pths:
        raise FileNotFoundError(f"no .pth model file under {path}")
    cfgs = sorted(glob.glob(os.path.join(path, "**", "config.yaml"), recursive=True))
    return pths[0], cfgs[0] if cfgs else None


class EcapaStream(AbsStream):
    """ECAPA-TDNN frame features of a mel-spectrogram (10 ms frames by default).

    Args:
        model_name_or_path: An ESPnet speaker model: its ``.pth``, a directory
            holding it (and its ``config.yaml``), or a hub id.
        init: ``"pretrained"`` or ``"random"``.
        config: ``EcapaTdnnEncoder`` arguments (``ndim``, ``model_scale``,
            ``output_size``); for pretrained models read from ``config.yaml``
            when present.
        frontend: ``melspec_torch`` (ESPnet's speaker frontend) or ``default``.
        frontend_conf: Frontend arguments (``hop_length`` sets the frame shift).
        local_files_only: Never download (default).
        freeze: Keep the encoder (and frontend) fixed.
        sample_rate: Expected input sample rate.
    """

    def __init__(
        self,
        model_name_or_path: Optional[str] = None,
        init: str = "pretrained",
        config: Optional[Dict] = None,
        frontend: str = "melspec_torch",
        frontend_conf: Optional[Dict] = None,
        local_files_only: bool = True,
        freeze: bool = True,
        sample_rate: int = 16000,
    ) -> None:
        super().__init__()
        from espnet2.spk.encoder.ecapa_tdnn_encoder import EcapaTdnnEncoder

        enc_conf = dict(config or {})
        fe_conf = {"n_mels": 80, "hop_length": 160, "log": True, "normalize": "mn"}
        fe_conf.update(frontend_conf or {})
        ckpt = None
        if init == "pretrained":
            if not model_name_or_path:
                raise ValueError("speaker_encoder_conf: init 'pretrained' needs model_name_or_path")
            ckpt, cfg_file = _resolve_checkpoint(model_name_or_path, local_files_only)
            if cfg_file and not config:
                import yaml

                with open(cfg_file, encoding="utf-8") as f:
                    saved = yaml.safe_load(f)
                enc_conf = dict(saved.get("encoder_conf") or {})
                frontend = saved.get("frontend") or frontend
                fe_conf = dict(saved.get("frontend_conf") or fe_conf)
        elif init != "random":
            raise ValueError(
                f"speaker_encoder_conf init must be 'pretrained' or 'random', got {init!r}"
            )
        self.frontend = _build_frontend(frontend, fe_conf)
        self.encoder = EcapaTdnnEncoder(input_size=self.frontend.output_size(), **enc_conf)
        if ckpt is not None:
            self._load(ckpt)
        hop = int(fe_conf.get("hop_length", 160))
        self._frame_shift = hop / sample_rate
        self.sample_rate = sample_rate
        self.frozen = bool(freeze)
        if self.frozen:
            freeze_module(self)
            self.eval()

    def _load(self, ckpt: str) -> None:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        for prefix, mod in (("frontend.", self.frontend), ("encoder.", self.encoder)):
            sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if prefix == "encoder." and not sub:
                raise ValueError(f"{ckpt}: no 'encoder.*' weights (not an ESPnet speaker model?)")
            missing, unexpected = mod.load_state_dict(sub, strict=False)
            if prefix == "encoder." and missing:
                raise ValueError(f"{ckpt}: encoder weights missing: {missing[:5]}")
        logging.info("speaker stream: loaded ECAPA-TDNN from %s", ckpt)

    @property
    def frame_shift(self) -> float:
        """Seconds per frame (frontend hop / sample rate)."""
        return self._frame_shift

    def output_size(self) -> int:
        """ECAPA output channels."""
        return self.encoder.output_size()

    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch; returns ``(B, T, C)`` features and lengths.

        In eval mode (and whenever frozen) each item is encoded alone, so a
        result never depends on the other items.  A trainable encoder in train
        mode runs the batch at once, because its batch-norm layers need more
        than one item (the SE blocks then also average over zero padding).
        """
        ctx = torch.no_grad() if self.frozen else contextlib.nullcontext()
        with ctx:
            feats = []
            for i in range(speech.shape[0]):
                wav = speech[i : i + 1, : int(speech_lengths[i])]
                f, _ = self.frontend(wav, speech_lengths[i : i + 1])
                feats.append(f[0])
            if self.training and not self.frozen:
                padded, lengths = pad_list(feats)
                if padded.shape[0] == 1:  # batch norm needs two items: duplicate
                    padded = padded.expand(2, -1, -1)
                out = self.encoder(padded).transpose(1, 2)[: len(feats)]
                return out, lengths
            outs = [self.encoder(f[None]).transpose(1, 2)[0] for f in feats]
        return pad_list(outs)
