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

With a time-ordered (t-SOT) head, ``channels`` > 0 makes both token features
follow the head's virtual channels (``<cc>`` switches channel, a newline ends
the channel's line): the previous token is the previous one *on the same
channel* (a newline before a line's first word), so overlapping lines stay
two chains a copy can follow, and ``line_embed`` adds a learned embedding of
the index of the line a token belongs to (lines numbered in the order they
start, as the answer's text block lists them), so that all tokens of one line,
its first and its last (the line end), can be found by content.

Used by the mini recipe, where no pre-trained LLM can do the reading; the
paper's configuration leaves it off.
"""

from typing import Dict, List, Optional, Tuple

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


def corrupt_ctc_posteriors(
    post: torch.Tensor,
    enc_len: torch.Tensor,
    rate: float,
    keep_ids: Tuple[int, ...] = (),
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Recognition errors made up on CTC posteriors (a training augmentation).

    Each token run of the greedy path (except runs of ``keep_ids``, such as the
    t-SOT channel and line symbols) is, with probability ``rate / 2`` each,
    substituted by a random token or deleted (turned into blank).  The change
    swaps the two labels' probabilities in the run's frames, so the
    distributions keep their natural shape: a made-up error looks as confident
    as the encoder's own ones.  The encoder's outputs on its training voices
    are nearly error-free while on voices it never heard a large share of the
    tokens are wrong; the LLM trained on such streams learns not to trust them
    blindly.

    Args:
        post: ``(B, T, V + 1)`` posteriors (blank last).
        enc_len: ``(B,)`` valid frames.
        rate: Share of token runs changed.
        keep_ids: Labels never changed.
        generator: Random source.

    Returns:
        The corrupted posteriors (a new tensor).
    """
    bsz, t, labels = post.shape
    blank = labels - 1
    greedy = post.argmax(-1)
    starts = ctc_run_starts(greedy, enc_len, blank)
    valid = torch.arange(t, device=post.device)[None] < enc_len[:, None]
    in_run = (greedy != blank) & valid
    run = (starts.long().cumsum(1) - 1).clamp(min=0)  # run index of each frame of a run
    runs = max(1, int(starts.sum(1).max()))
    u = torch.rand(bsz, runs, generator=generator).to(post.device)
    new = torch.randint(0, blank, (bsz, runs), generator=generator).to(post.device)
    new = torch.where(u < rate / 2, new, torch.full_like(new, blank))  # blank: deletion
    change = torch.gather(u < rate, 1, run) & in_run
    for i in keep_ids:
        change &= greedy != i
    target = torch.gather(new, 1, run)
    change &= target != greedy
    if not bool(change.any()):
        return post
    out = post.clone()
    p_old = torch.gather(post, 2, greedy[..., None])
    p_new = torch.gather(post, 2, target[..., None])
    swapped_old = out.scatter(2, target[..., None], p_old).scatter(2, greedy[..., None], p_new)
    return torch.where(change[..., None], swapped_old, out)


class CtcCompressor(torch.nn.Module):
    """Choose the semantic frames to keep and add their previous-token and time features.

    Args:
        d_model: The LLM's embedding size.
        ds_rate: Encoder frames per projected frame.
        frame_shift: Seconds per encoder frame.
        anchor_spacing: Seconds between time anchors.
        digit_embeddings: ``(10, d_model)`` LLM input embeddings of the digits
            ``0``..``9`` (initial value of the tenths embedding).
        channels: Virtual channels of a t-SOT head (0: token order only).
        symbol_ids: ``(channel change, line end)`` token ids (needed with ``channels``).
        line_embed: Size of the line-index embedding table (0: none; lines past
            the last entry share it).
        prev_context: Previous tokens each kept frame carries (1, or 2: also the
            token before the previous one on its channel, through ``prev2_proj``;
            needs ``channels``), so that a look-up can key on two tokens.
        line_start_id: With ``channels``: the answer's token that opens a line's
            words (``>``), fed as the previous token in place of the channel's
            line end, so that a line's first words have the same predecessors in
            the frames as in the answer (``None``: the line end, as it is).
        line_first_ids: Token -> the piece the answer writes for it right after
            ``>`` (a line's first word is fed as that piece).
        tenths: Add the tenths-of-a-second feature (off when the frames must
            carry no digit embeddings: :mod:`~espnet_tagspeech.model.line_times`).
    """

    def __init__(
        self,
        d_model: int,
        ds_rate: int,
        frame_shift: float,
        anchor_spacing: float,
        digit_embeddings: torch.Tensor,
        channels: int = 0,
        symbol_ids: Optional[Tuple[int, int]] = None,
        line_embed: int = 0,
        prev_context: int = 1,
        line_start_id: Optional[int] = None,
        line_first_ids: Optional[Dict[int, int]] = None,
        tenths: bool = True,
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
        self.tenths = None
        if tenths:
            self.tenths = torch.nn.Embedding(10, d_model)
            with torch.no_grad():
                self.tenths.weight.copy_(digit_embeddings.detach().float())
        if (channels or line_embed) and symbol_ids is None:
            raise ValueError("channel-aware CTC features need the <cc> and newline token ids")
        if line_embed and not channels:
            raise ValueError("line_embed numbers t-SOT lines: set channels (model_conf ctc_channels)")
        if prev_context not in (1, 2):
            raise ValueError(f"prev_context must be 1 or 2, got {prev_context}")
        if (prev_context == 2 or line_start_id is not None or line_first_ids) and not channels:
            raise ValueError("prev_context 2, line_start_id and line_first_ids follow t-SOT channels: set channels")
        self.line_first_ids = dict(line_first_ids or {})
        self.prev2_proj = None
        if prev_context == 2:
            self.prev2_proj = torch.nn.Linear(d_model, d_model, bias=False)
            torch.nn.init.zeros_(self.prev2_proj.weight)
        self.line_start_id = line_start_id
        self.channels = int(channels)
        self.symbol_ids = tuple(symbol_ids) if symbol_ids is not None else None
        self.line_embed = None
        if line_embed:
            self.line_embed = torch.nn.Embedding(int(line_embed), d_model)
            # start on the scale of the LLM's token embeddings
            scale = float(digit_embeddings.detach().float().pow(2).mean().sqrt())
            torch.nn.init.normal_(self.line_embed.weight, std=scale)

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
        first_prev2: Optional[List[List[int]]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Keep mask and additive features per projected frame.

        Args:
            greedy: ``(B, T)`` greedy CTC tokens of the encoder frames (``blank`` included).
            enc_len: ``(B,)`` valid encoder frames.
            num_out: Projected frames per item (padded length).
            blank: Index of the blank.
            embed_table: The LLM's input embedding matrix.
            first_prev2: Per item and line (in start order), the token fed as the
                one before the previous of the line's first word (with
                ``channels``; :mod:`~espnet_tagspeech.model.line_times`: the last
                digit of the line's end time, as in the answer).

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
        line, prev2_tok = None, None
        if self.channels:
            prev_tok, prev2_tok, line = self.channel_features(greedy, starts, num_out, blank, first_prev2)
        extra = self.prev_proj(self._embed(prev_tok, blank, embed_table))
        if self.prev2_proj is not None:
            extra = extra + self.prev2_proj(self._embed(prev2_tok, blank, embed_table))
        if self.tenths is not None:
            extra = extra + self.tenths(self.frame_tenths(num_out, greedy.device))[None]
        if self.line_embed is not None and line is not None:
            size = self.line_embed.num_embeddings
            has_line = line >= 0
            emb = self.line_embed(line.clamp(min=0, max=size - 1))
            extra = extra + emb * has_line[..., None].to(emb.dtype)
        return keep, extra

    @staticmethod
    def _embed(tok: torch.Tensor, blank: int, embed_table: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` embeddings of token ids, zero where ``blank`` (none)."""
        out = embed_table.new_zeros(*tok.shape, embed_table.shape[1])
        real = tok != blank
        out[real] = embed_table[tok[real]]
        return out

    def channel_features(
        self, greedy: torch.Tensor, starts: torch.Tensor, num_out: int, blank: int,
        first_prev2: Optional[List[List[int]]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per projected frame, from its first token start: the previous token on
        that token's t-SOT channel, the one before it, and the index of the line
        it belongs to.

        Args:
            greedy: ``(B, num_out * k)`` greedy tokens (padded with blank).
            starts: ``(B, num_out * k)`` token run starts.
            num_out: Projected frames.
            blank: Index of the blank.
            first_prev2: See :meth:`forward`.

        Returns:
            ``prev`` ``(B, num_out)`` token ids (``blank``: none, the first token
            of a channel), ``prev2`` ``(B, num_out)`` (the same one step further
            back) and ``line`` ``(B, num_out)`` line indices (-1: no token start
            in the frame, or a channel change).  A line's first word has the line
            end of the channel's previous line as its previous token (or
            ``line_start_id`` when set).
        """
        cc, nl = self.symbol_ids
        k = self.ds_rate
        g = greedy.cpu().numpy()
        st = starts.cpu().numpy()
        start = nl if self.line_start_id is None else self.line_start_id
        prev = torch.full((g.shape[0], num_out), blank, dtype=torch.long)
        prev2 = prev.clone()
        line = torch.full((g.shape[0], num_out), -1, dtype=torch.long)
        for b in range(g.shape[0]):
            ch, lines = 0, 0
            last = [blank] * self.channels
            last2 = [blank] * self.channels
            open_line = [-1] * self.channels
            for pos in st[b].nonzero()[0].tolist():
                tok, frame = int(g[b, pos]), pos // k
                first = pos == frame * k or not st[b, frame * k : pos].any()
                if tok == cc:
                    ch = (ch + 1) % self.channels
                    continue
                spelled = start if tok == nl else tok
                if open_line[ch] < 0 and tok != nl:
                    open_line[ch], lines = lines, lines + 1
                    spelled = self.line_first_ids.get(tok, tok)
                    ends = first_prev2[b] if first_prev2 is not None else ()
                    if open_line[ch] < len(ends):  # the answer's "<end time>>" before the word
                        last2[ch], last[ch] = ends[open_line[ch]], start
                if first:
                    prev[b, frame] = last[ch]
                    prev2[b, frame] = last2[ch]
                    line[b, frame] = open_line[ch]
                last2[ch], last[ch] = last[ch], spelled
                if tok == nl:
                    open_line[ch] = -1
        dev = greedy.device
        return prev.to(dev), prev2.to(dev), line.to(dev)
