"""Time anchors: the LLM's own digit embeddings inserted between projected frames.

After projection, anchor number ``n`` is inserted before frame ``n * interval``
(so at position 0, after every ``interval`` frames) and one more at the end
when the last group is partial.  An anchor is the sequence of the LLM's input
embeddings of the digit tokens of ``n`` (anchor 12 = embed("1"), embed("2")),
so no new tokens are learned.  Anchor ``n`` (except a final partial one) marks
the real time ``n * interval * ds_rate * frame_shift`` seconds; both streams
must agree on that spacing, which :func:`check_anchor_spacing` enforces.
"""

from typing import List, Optional, Sequence, Tuple

import torch

_TOL = 1e-6


def anchor_spacing(interval: int, ds_rate: int, frame_shift: float) -> float:
    """Seconds between consecutive anchors of a stream."""
    return interval * ds_rate * frame_shift


def check_anchor_spacing(
    semantic: Tuple[int, int, float], speaker: Tuple[int, int, float]
) -> float:
    """Fail unless both streams put anchors at the same real times.

    Args:
        semantic: ``(anchor_interval, ds_rate, frame_shift)`` of the semantic stream.
        speaker: The same for the speaker stream.

    Returns:
        The common anchor spacing in seconds.

    Raises:
        ValueError: naming both spacings and the values they come from.
    """
    a = anchor_spacing(*semantic)
    b = anchor_spacing(*speaker)
    if abs(a - b) > _TOL:
        raise ValueError(
            "time anchors of the two streams do not line up: semantic stream "
            f"anchor_interval*ds_rate*frame_shift = {semantic[0]}*{semantic[1]}*"
            f"{semantic[2]:g} = {a:g} s, speaker stream = {speaker[0]}*{speaker[1]}*"
            f"{speaker[2]:g} = {b:g} s; change the streams' ds_rate or "
            "anchor_interval so that both products are equal"
        )
    return a


def anchor_count(num_frames: int, interval: int) -> int:
    """Number of anchors for ``num_frames`` projected frames.

    One at 0, one after every full ``interval`` frames, and one at the end when
    the last group is partial (an empty input still gets anchor 0).
    """
    if interval < 1:
        raise ValueError(f"anchor_interval must be >= 1, got {interval}")
    return num_frames // interval + 1 + (1 if num_frames % interval else 0)


def digits_of(number: int) -> List[int]:
    """The decimal digits of a non-negative integer, most significant first."""
    if number < 0:
        raise ValueError(f"anchor numbers are non-negative, got {number}")
    return [int(c) for c in str(number)]


class AnchorInserter:
    """Insert digit-embedding anchors into one item's projected frames.

    Args:
        interval: Projected frames between consecutive anchors.
        digit_ids: Token ids of the digits ``"0"`` .. ``"9"`` in the LLM's vocabulary.
    """

    def __init__(self, interval: int, digit_ids: Sequence[int]) -> None:
        if interval < 1:
            raise ValueError(f"anchor_interval must be >= 1, got {interval}")
        if len(digit_ids) != 10:
            raise ValueError(f"need 10 digit token ids, got {len(digit_ids)}")
        self.interval = interval
        self.digit_ids = list(digit_ids)

    def number_ids(self, number: int) -> List[int]:
        """Token ids of anchor ``number``."""
        return [self.digit_ids[d] for d in digits_of(number)]

    def __call__(
        self,
        frames: torch.Tensor,
        embed_tokens: torch.nn.Module,
        keep: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, List[int]]:
        """Return the anchored sequence and the positions where anchors start.

        Args:
            frames: ``(T, D)`` projected frames of one item (no padding).
            embed_tokens: The LLM's input embedding module.
            keep: Optional ``(T,)`` booleans: only these frames enter the
                sequence (a compressed stream).  Anchors stay where they are
                in time: anchor ``n`` still precedes what is left of frames
                ``n * interval`` onwards.

        Returns:
            ``(kept frames + total anchor tokens, D)`` embeddings and, per
            anchor, the index of its first token in that sequence.
        """
        t = frames.shape[0]
        n_anchors = anchor_count(t, self.interval)
        ids = [self.number_ids(n) for n in range(n_anchors)]
        flat = torch.tensor(
            [i for group in ids for i in group], dtype=torch.long, device=frames.device
        )
        anchor_emb = embed_tokens(flat).to(frames.dtype)
        pieces, positions = [], []
        pos = cursor = 0
        for n, group in enumerate(ids):
            positions.append(pos)
            pieces.append(anchor_emb[cursor : cursor + len(group)])
            cursor += len(group)
            pos += len(group)
            chunk = frames[n * self.interval : (n + 1) * self.interval]
            if keep is not None:
                chunk = chunk[keep[n * self.interval : (n + 1) * self.interval]]
            if n < n_anchors - 1 and chunk.shape[0]:
                pieces.append(chunk)
                pos += chunk.shape[0]
        return torch.cat(pieces, dim=0), positions


class FrameClock(torch.nn.Module):
    """Learned time-of-frame embeddings added to the projected frames of both streams.

    A frame starting at ``t`` seconds gets ``seconds[floor(t)] + tenths[tenth of t]``.
    ``seconds[n]`` starts as the sum of the LLM's embeddings of the digits of ``n``
    (the digits of the anchor before the frame) and ``tenths[d]`` as the embedding
    of digit ``d``, so that a frame carries, by content, the time an answer writes
    (``3.4``): a small LLM trained from scratch can then find the frames of a time
    (and the time of a frame) in one attention step instead of counting positions
    from the last anchor.  One clock serves both streams, so their frames of the
    same moment share a code.  The anchors stay (off in the paper's configuration;
    the mini recipe's small random-init LLM uses it).

    Args:
        digit_embeddings: ``(10, D)`` LLM input embeddings of ``0``..``9``.
        max_seconds: Size of the seconds table (later frames share its last entry).
    """

    def __init__(self, digit_embeddings: torch.Tensor, max_seconds: int = 128) -> None:
        super().__init__()
        if digit_embeddings.dim() != 2 or digit_embeddings.shape[0] != 10:
            raise ValueError(f"digit_embeddings must be (10, D), got {tuple(digit_embeddings.shape)}")
        digits = digit_embeddings.detach().float()
        self.seconds = torch.nn.Embedding(int(max_seconds), digits.shape[1])
        self.tenths = torch.nn.Embedding(10, digits.shape[1])
        with torch.no_grad():
            for n in range(int(max_seconds)):
                self.seconds.weight[n] = digits[digits_of(n)].sum(0)
            self.tenths.weight.copy_(digits)

    def forward(self, num_frames: int, frame_sec: float, device: torch.device) -> torch.Tensor:
        """``(num_frames, D)`` embeddings of frames ``frame_sec`` apart from 0 s."""
        start = torch.arange(num_frames, device=device, dtype=torch.float64) * frame_sec + 1e-6
        sec = start.floor().long().clamp(max=self.seconds.num_embeddings - 1)
        tenth = ((start - start.floor()) * 10 + 1e-6).floor().long().clamp(0, 9)
        return self.seconds(sec) + self.tenths(tenth)
