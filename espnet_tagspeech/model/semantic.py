"""Semantic stream: a WavLM encoder (Hugging Face ``transformers.WavLMModel``)."""

import contextlib
import math
from typing import Dict, Optional, Tuple

import torch

from espnet_tagspeech.model.abs_stream import AbsStream, freeze_module

_FRONTENDS = ("conv", "fbank")


class FbankStackFrontend(torch.nn.Module):
    """Log-mel frames stacked ``stack`` at a time, in place of WavLM's waveform CNN.

    Output ``(B, n_mels * stack, T)`` like the CNN's, with exactly the length
    of a single convolution of kernel ``n_fft + hop_length * (stack - 1)`` and
    stride ``hop_length * stack`` (no centring), so that WavLM's own length and
    attention-mask arithmetic stays right.  A small random-init WavLM learns
    words several times faster from these than from raw samples (mini recipe).

    Args:
        n_mels: Mel bands.
        n_fft: FFT size (the analysis window is ``win_length`` inside it).
        win_length: Analysis window in samples.
        hop_length: Mel frame shift in samples.
        stack: Consecutive mel frames per output frame.
        sample_rate: Input sample rate.
        mean_norm: Subtract each item's mean log-mel spectrum (over its frames
            within 52 dB of its loudest, so padding and digital silence are
            left out): the voice's average spectral envelope, as cepstral mean
            normalisation removes it.
    """

    def __init__(
        self,
        n_mels: int = 80,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        stack: int = 4,
        sample_rate: int = 16000,
        mean_norm: bool = False,
    ) -> None:
        super().__init__()
        import torchaudio

        if stack < 1 or win_length > n_fft:
            raise ValueError(f"fbank frontend: need stack >= 1 and win_length <= n_fft, got {stack}, {win_length}")
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length,
            n_mels=n_mels, center=False,
        )
        self.n_mels = n_mels
        self.stack = stack
        self.kernel = n_fft + hop_length * (stack - 1)
        self.stride = hop_length * stack
        self.mean_norm = bool(mean_norm)
        # per-item warp factors of the mel axis for the next forward (training augmentation)
        self.warp: Optional[torch.Tensor] = None

    def output_size(self) -> int:
        """Channels per output frame."""
        return self.n_mels * self.stack

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` waveforms -> ``(B, n_mels * stack, T)``."""
        if wav.shape[1] < self.kernel:
            wav = torch.nn.functional.pad(wav, (0, self.kernel - wav.shape[1]))
        # log-mel in float32 even under autocast (the layers after it may run in bf16)
        with torch.autocast(wav.device.type, enabled=False):
            feats = torch.log(self.mel(wav.float()) + 1e-6)  # (B, n_mels, N)
        if self.warp is not None:
            feats = warp_mel_axis(feats, self.warp.to(feats.device))
        if self.mean_norm:
            feats = feats - speech_mean(feats)
        bsz, n_mels, n = feats.shape
        t = n // self.stack
        feats = feats[..., : t * self.stack].reshape(bsz, n_mels, t, self.stack)
        return feats.permute(0, 3, 1, 2).reshape(bsz, self.stack * n_mels, t).to(wav.dtype)


def speech_mean(feats: torch.Tensor, floor: float = 12.0) -> torch.Tensor:
    """``(B, n_mels, 1)`` mean log-mel spectrum of each item's frames whose mean
    log energy is within ``floor`` (natural log units) of the item's loudest."""
    level = feats.mean(1, keepdim=True)  # (B, 1, N)
    keep = (level >= level.amax(2, keepdim=True) - floor).to(feats.dtype)
    return (feats * keep).sum(2, keepdim=True) / keep.sum(2, keepdim=True)


def warp_mel_axis(feats: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Stretch each item's mel axis by its factor (a vocal-tract-length change).

    Band ``k`` of item ``b`` takes the value at band ``k * factors[b]`` of the
    input, linearly interpolated and held at the top band: a factor above 1
    moves formants down, below 1 up, as between shorter and longer vocal tracts.

    Args:
        feats: ``(B, n_mels, N)`` log-mel frames.
        factors: ``(B,)`` warp factors (1 leaves an item unchanged).
    """
    n_mels = feats.shape[1]
    pos = torch.arange(n_mels, device=feats.device, dtype=feats.dtype)[None] * factors[:, None].to(feats.dtype)
    pos = pos.clamp(0, n_mels - 1)  # (B, n_mels)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n_mels - 1)
    frac = (pos - lo.to(pos.dtype))[..., None]
    idx = lambda i: i[..., None].expand(-1, -1, feats.shape[2])  # noqa: E731
    return torch.gather(feats, 1, idx(lo)) * (1 - frac) + torch.gather(feats, 1, idx(hi)) * frac


class WavLMStream(AbsStream):
    """WavLM frames (20 ms for the standard convolutional front end).

    Args:
        model_name_or_path: Local directory or hub id (e.g. ``microsoft/wavlm-large``).
        init: ``"pretrained"`` or ``"random"`` (from ``config``).
        config: Inline ``WavLMConfig`` arguments for ``init: random``.
        local_files_only: Never download (default).
        freeze: Keep WavLM's weights fixed (the layer weights still train).
        layer_weighting: Output a learned softmax-weighted sum of all hidden
            layers instead of the last one.
        normalize_waveform: Zero-mean unit-variance each waveform first (as
            WavLM-large's feature extractor does).
        sample_rate: Expected input sample rate.
        frontend: ``"conv"`` (WavLM's waveform CNN) or ``"fbank"``
            (:class:`FbankStackFrontend`; random init only).
        frontend_conf: Arguments of the fbank frontend.
    """

    def __init__(
        self,
        model_name_or_path: Optional[str] = None,
        init: str = "pretrained",
        config: Optional[Dict] = None,
        local_files_only: bool = True,
        freeze: bool = True,
        layer_weighting: bool = False,
        normalize_waveform: bool = True,
        sample_rate: int = 16000,
        frontend: str = "conv",
        frontend_conf: Optional[Dict] = None,
    ) -> None:
        super().__init__()
        from transformers import WavLMConfig, WavLMModel

        if frontend not in _FRONTENDS:
            raise ValueError(f"semantic_encoder_conf frontend {frontend!r} unknown; valid: {_FRONTENDS}")
        if frontend == "fbank" and init != "random":
            raise ValueError("semantic_encoder_conf frontend 'fbank' needs init: random "
                             "(pretrained WavLM weights expect the waveform CNN)")
        if init == "random":
            config = dict(config or {})
            fbank = None
            if frontend == "fbank":
                fbank = FbankStackFrontend(sample_rate=sample_rate, **(frontend_conf or {}))
                # one "convolution" with the fbank frontend's exact geometry
                config.update(conv_dim=[fbank.output_size()], conv_kernel=[fbank.kernel],
                              conv_stride=[fbank.stride], conv_bias=False)
            self.wavlm = WavLMModel(WavLMConfig(**config))
            if fbank is not None:
                self.wavlm.feature_extractor = fbank
        elif init == "pretrained":
            if not model_name_or_path:
                raise ValueError("semantic_encoder_conf: init 'pretrained' needs model_name_or_path")
            self.wavlm = WavLMModel.from_pretrained(
                model_name_or_path, local_files_only=local_files_only
            )
        else:
            raise ValueError(
                f"semantic_encoder_conf init must be 'pretrained' or 'random', got {init!r}"
            )
        cfg = self.wavlm.config
        self._frame_shift = math.prod(cfg.conv_stride) / sample_rate
        self._output_size = cfg.hidden_size
        self.sample_rate = sample_rate
        self.normalize_waveform = normalize_waveform
        # Group norm over time in the conv front end sees padding: run items alone.
        self.per_item = cfg.feat_extract_norm == "group" and frontend == "conv"
        self.frozen = bool(freeze)
        if self.frozen:
            freeze_module(self.wavlm)
            self.wavlm.eval()
        self.layer_weights = (
            torch.nn.Parameter(torch.zeros(cfg.num_hidden_layers + 1))
            if layer_weighting
            else None
        )

    @property
    def frame_shift(self) -> float:
        """Seconds per WavLM frame (product of conv strides / sample rate)."""
        return self._frame_shift

    def output_size(self) -> int:
        """WavLM hidden size."""
        return self._output_size

    @property
    def mel_warpable(self) -> bool:
        """Whether :meth:`mel_warp` applies (the fbank frontend has a mel axis)."""
        return isinstance(self.wavlm.feature_extractor, FbankStackFrontend)

    @contextlib.contextmanager
    def mel_warp(self, factors: torch.Tensor):
        """Within the block, forwards warp each item's mel axis by ``factors`` (``(B,)``).

        Raises:
            ValueError: the frontend is WavLM's waveform CNN (no mel axis to warp).
        """
        frontend = self.wavlm.feature_extractor
        if not self.mel_warpable:
            raise ValueError("mel_warp needs semantic_encoder_conf frontend: fbank")
        frontend.warp = factors
        try:
            yield
        finally:
            frontend.warp = None

    def _normalize(self, speech: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(speech.shape[1], device=speech.device)[None] < lengths[:, None]
        n = lengths.clamp(min=1).to(speech.dtype)[:, None]
        mean = (speech * mask).sum(1, keepdim=True) / n
        var = (((speech - mean) * mask) ** 2).sum(1, keepdim=True) / n
        return (speech - mean) / torch.sqrt(var + 1e-7) * mask

    def _encode(self, speech: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        ctx = torch.no_grad() if self.frozen else contextlib.nullcontext()
        with ctx:
            out = self.wavlm(
                speech,
                attention_mask=mask,
                output_hidden_states=self.layer_weights is not None,
            )
        if self.layer_weights is None:
            return out.last_hidden_state
        stacked = torch.stack(out.hidden_states, dim=0)
        w = torch.softmax(self.layer_weights, dim=0).to(stacked.dtype)
        return (w[:, None, None, None] * stacked).sum(0)

    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode ``(B, L)`` waveforms into ``(B, T, D)`` WavLM frames."""
        if self.normalize_waveform:
            speech = self._normalize(speech, speech_lengths)
        lengths = self.wavlm._get_feat_extract_output_lengths(speech_lengths).long()
        if self.per_item:
            outs = [
                self._encode(speech[i : i + 1, : int(speech_lengths[i])], None)[0]
                for i in range(speech.shape[0])
            ]
            feats = speech.new_zeros(len(outs), int(lengths.max()), self._output_size)
            for i, o in enumerate(outs):
                feats[i, : o.shape[0]] = o
        else:
            mask = (
                torch.arange(speech.shape[1], device=speech.device)[None]
                < speech_lengths[:, None]
            ).long()
            feats = self._encode(speech, mask)
        return feats, lengths
