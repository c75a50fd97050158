"""Projectors: map encoder frames to the LLM's embedding space at a lower rate."""

from abc import ABC, abstractmethod
from typing import Tuple

import torch


class AbsProjector(torch.nn.Module, ABC):
    """A module taking ``(B, T, D)`` frames to ``(B, T', d_llm)`` embeddings."""

    @property
    @abstractmethod
    def ds_rate(self) -> int:
        """How many input frames make one output frame."""

    @abstractmethod
    def output_size(self) -> int:
        """Size of the output embeddings."""

    @abstractmethod
    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Project a padded batch; returns the embeddings and their lengths."""

    def match_scale(self, rms: float) -> None:
        """Start the output at ``rms`` per element, if the projector can (default: no-op)."""


class StackMLPProjector(AbsProjector):
    """Stack ``ds_rate`` consecutive frames, then a two-layer MLP (TagSpeech).

    The stacking is a reshape, not a convolution: frames ``k*i .. k*i+k-1``
    are concatenated into one vector of size ``input_size * k``; a tail that
    does not fill a whole group is padded with zeros.  The MLP is
    ``Linear(input_size*k -> output_size) -> ReLU -> Linear(output_size -> output_size)``.

    With ``output_norm`` a LayerNorm follows the MLP; the model starts its
    gain at the RMS of the LLM's token embeddings (:meth:`match_scale`), so
    stream frames, time anchors and answer tokens enter the LLM on one scale.
    Without it, frames of small random-init encoders reach the LLM 40-250x
    larger than its token embeddings, and anything added to them (anchors'
    neighbours, ``ctc_embed`` words) is drowned.

    Args:
        input_size: Size of the encoder frames.
        output_size: Size of the LLM's input embeddings.
        ds_rate: Number of frames stacked into one output frame.
        output_norm: Add the output LayerNorm.
    """

    def __init__(
        self, input_size: int, output_size: int, ds_rate: int = 4, output_norm: bool = False
    ) -> None:
        super().__init__()
        if ds_rate < 1:
            raise ValueError(f"ds_rate must be >= 1, got {ds_rate}")
        self._ds_rate = ds_rate
        self._output_size = output_size
        self.linear1 = torch.nn.Linear(input_size * ds_rate, output_size)
        self.linear2 = torch.nn.Linear(output_size, output_size)
        self.norm = torch.nn.LayerNorm(output_size) if output_norm else None

    def match_scale(self, rms: float) -> None:
        """Set the output LayerNorm's gain to ``rms`` (no-op without ``output_norm``)."""
        if self.norm is not None:
            with torch.no_grad():
                self.norm.weight.fill_(float(rms))

    @property
    def ds_rate(self) -> int:
        """How many input frames make one output frame."""
        return self._ds_rate

    def output_size(self) -> int:
        """Size of the output embeddings."""
        return self._output_size

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stack and project.

        Args:
            frames: ``(B, T, D)`` padded encoder output.
            lengths: ``(B,)`` valid frames per item.

        Returns:
            ``(B, ceil(T/k), output_size)`` embeddings and ``(B,)`` lengths
            ``ceil(lengths/k)``.
        """
        k = self._ds_rate
        bsz, t, d = frames.shape
        # Zero the padding so that a partly filled last group of an item sees
        # zeros, exactly as the same item would alone.
        mask = torch.arange(t, device=frames.device)[None, :] < lengths[:, None]
        frames = frames * mask[..., None].to(frames.dtype)
        tail = (-t) % k
        if tail:
            frames = torch.nn.functional.pad(frames, (0, 0, 0, tail))
        stacked = frames.reshape(bsz, (t + tail) // k, d * k)
        out = self.linear2(torch.relu(self.linear1(stacked)))
        if self.norm is not None:
            out = self.norm(out)
        return out, torch.div(lengths + k - 1, k, rounding_mode="floor")
