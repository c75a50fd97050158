"""CTC compression of the semantic stream: keep only the frames where a token starts.

A semantic encoder fine-tuned with SOT-CTC marks each token with a spike: its
greedy CTC path is blank almost everywhere.  Keeping only the projected frames
in which a new non-blank token run starts shortens the semantic block to about
one frame per token, in spoken (SOT) order, while the time anchors stay where
they are in time (:class:`~espnet_tagspeech.model.anchors.AnchorInserter` with
``keep``).  Each kept frame also carries

- the LLM input embedding of the *previous* kept token through a learned
  linear map (zero at start): the frame that follows token ``x`` can then be
  found by content alone, the one-step lookup a small LLM trained from scratch
  learns first (an explicit induction feature), and
- a learned embedding of its tenths of a second past the last anchor
  (initialised from the LLM's digit embeddings), so that a timestamp's first
  decimal can be read off the frame where a line's first word starts.

Used by the mini recipe, where no pre-trained LLM can do the reading; the
paper's configuration leaves it off.
"""

from typing import Tuple

import torch


def ctc_run_starts(greedy: torch.Tensor, lengths: torch.Tensor, blank: int) -> torch.Tensor:
    """Frames where the greedy CTC path starts a new non-blank token run.

    Args:
        greedy: ``(B, T)`` argmax token per frame (``blank`` included).
        lengths: ``(B,)`` valid frames per item.
        blank: Index of the blank.

    Returns:
        ``(B, T)`` booleans; padding frames are ``False``.
    """
    prev = torch.nn.functional.pad(greedy, (1, 0), value=blank)[:, :-1]
    valid = torch.arange(greedy.shape[1], device=greedy.device)[None] < lengths[:, None]
    return (greedy != blank) & (greedy != prev) & valid


class CtcCompressor(torch.nn.Module):
    """Choose the semantic frames to keep and add their previous-token and time features.

    Args:
        d_model: The LLM's embedding size.
        ds_rate: Encoder frames per projected frame.
        frame_shift: Seconds per encoder frame.
        anchor_spacing: Seconds between time anchors.
        digit_embeddings: ``(10, d_model)`` LLM input embeddings of the digits
            ``0``..``9`` (initial value of the tenths embedding).
    """

    def __init__(
        self,
        d_model: int,
        ds_rate: int,
        frame_shift: float,
        anchor_spacing: float,
        digit_embeddings: torch.Tensor,
    ) -> None:
        super().__init__()
        if tuple(digit_embeddings.shape) != (10, d_model):
            raise ValueError(
                f"digit_embeddings must be (10, {d_model}), got {tuple(digit_embeddings.shape)}"
            )
        self.ds_rate = ds_rate
        self.frame_sec = ds_rate * frame_shift
        self.anchor_spacing = anchor_spacing
        self.prev_proj = torch.nn.Linear(d_model, d_model, bias=False)
        torch.nn.init.zeros_(self.prev_proj.weight)
        self.tenths = torch.nn.Embedding(10, d_model)
        with torch.no_grad():
            self.tenths.weight.copy_(digit_embeddings.detach().float())

    def frame_tenths(self, num_out: int, device: torch.device) -> torch.Tensor:
        """``(num_out,)`` tenths of a second of each projected frame past its anchor."""
        start = torch.arange(num_out, device=device, dtype=torch.float64) * self.frame_sec
        past = torch.remainder(start + 1e-6, self.anchor_spacing)
        return torch.clamp((past * 10 + 1e-6).floor().long(), 0, 9)

    def forward(
        self,
        greedy: torch.Tensor,
        enc_len: torch.Tensor,
        num_out: int,
        blank: int,
        embed_table: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Keep mask and additive features per projected frame.

        Args:
            greedy: ``(B, T)`` greedy CTC tokens of the encoder frames (``blank`` included).
            enc_len: ``(B,)`` valid encoder frames.
            num_out: Projected frames per item (padded length).
            blank: Index of the blank.
            embed_table: The LLM's input embedding matrix.

        Returns:
            ``keep`` ``(B, num_out)`` booleans and ``extra`` ``(B, num_out, D)``
            (previous-token feature + tenths feature; meaningful at kept frames).
        """
        bsz, t = greedy.shape
        k = self.ds_rate
        starts = ctc_run_starts(greedy, enc_len, blank)
        tail = num_out * k - t
        if tail > 0:
            starts = torch.nn.functional.pad(starts, (0, tail))
            greedy = torch.nn.functional.pad(greedy, (0, tail), value=blank)
        starts, greedy = starts[:, : num_out * k], greedy[:, : num_out * k]
        keep = starts.reshape(bsz, num_out, k).any(-1)
        # token of the last run start strictly before each projected frame (none -> blank)
        pos = torch.arange(num_out * k, device=greedy.device).expand(bsz, -1)
        last = torch.where(starts, pos, torch.full_like(pos, -1)).cummax(dim=1).values
        before = torch.nn.functional.pad(last, (1, 0), value=-1)[:, :-1]
        first_of_frame = before[:, ::k]  # (B, num_out): last start before the frame begins
        has_prev = first_of_frame >= 0
        prev_tok = torch.gather(greedy, 1, first_of_frame.clamp(min=0))
        prev_tok = torch.where(has_prev, prev_tok, torch.full_like(prev_tok, blank))
        prev_emb = embed_table.new_zeros(bsz, num_out, embed_table.shape[1])
        real = has_prev & (prev_tok != blank)
        prev_emb[real] = embed_table[prev_tok[real]]
        extra = self.prev_proj(prev_emb) + self.tenths(self.frame_tenths(num_out, greedy.device))[None]
        return keep, extra
