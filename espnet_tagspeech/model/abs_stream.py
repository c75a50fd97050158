"""The interface of an encoder stream (semantic or speaker) feeding a projector."""

from abc import ABC, abstractmethod
from typing import Tuple

import torch


class AbsStream(torch.nn.Module, ABC):
    """Waveforms ``(B, L)`` to frame features ``(B, T, D)`` at a fixed frame shift."""

    #: Whether the stream's own weights are frozen (set by subclasses).
    frozen: bool = False

    def train(self, mode: bool = True) -> "AbsStream":
        """Train mode, except that a frozen stream always stays in eval mode."""
        return super().train(mode and not self.frozen)

    @property
    @abstractmethod
    def frame_shift(self) -> float:
        """Seconds between consecutive output frames."""

    @abstractmethod
    def output_size(self) -> int:
        """Feature size of the output frames."""

    @abstractmethod
    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch; returns ``(B, T, D)`` features and ``(B,)`` lengths."""


def freeze_module(module: torch.nn.Module) -> None:
    """Stop gradients to every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)


def pad_list(items: "list[torch.Tensor]") -> Tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(T_i, D)`` tensors with zeros to ``(B, max T, D)`` plus lengths."""
    lengths = torch.tensor([x.shape[0] for x in items], dtype=torch.long)
    out = items[0].new_zeros(len(items), int(lengths.max()), items[0].shape[-1])
    for i, x in enumerate(items):
        out[i, : x.shape[0]] = x
    return out, lengths.to(items[0].device)
