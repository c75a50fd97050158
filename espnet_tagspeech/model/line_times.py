"""The CTC head's lines spelled the way the answer writes their times.

A small LLM trained from scratch copies words from the compressed semantic
stream (:mod:`~espnet_tagspeech.model.copy_init`) but does not learn to read a
line's times off the frames' clock within the mini budget: its greedy answers
start line after line at the same made-up times.  This block gives it times in
the form it copies: for each line of the t-SOT CTC head's greedy path (in the
order the lines start, the order of the answer's text block), the characters
``s.ss-e.ee>`` as the LLM's own token embeddings, appended to the semantic block
of the prompt.  Each position also carries the codes of the two tokens before
it *in the answer* (the compressor's ``prev_proj`` / ``prev2_proj``): the first
digit of line ``k`` follows the last token of line ``k - 1`` (``<text>`` for the
first line) and the newline, so the two-token copy head that follows the words
through the frames also follows a line's end into the next line's times, and
from its ``>`` back into the frames of its first word.  With the compressor's
line embedding, line ``k``'s positions carry line ``k``'s code, as its frames do.

The LLM still writes every token of the answer; the block is part of its
prompt, made by the model's own semantic stream like the frames it follows.

A line starts :data:`START_PAD` before its first token's CTC frame and ends
:data:`END_PAD` after its last token's last frame (CTC fires early in a word),
the cascade's pads; with ``line_gap`` a channel's pause longer than that many
seconds ends its line first (:func:`end_lines_at_pauses`).
"""

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

START_PAD = 0.1
END_PAD = 0.35
TIME_CHARS = "0123456789.->"


@dataclass
class GreedyLine:
    """One line of a t-SOT CTC head's greedy path.

    Attributes:
        start: First CTC frame of its first token.
        end: One past the last frame of its last token.
        last: Its last token, as the answer spells it (a one-token line's
            token after ``>``).
    """

    start: int
    end: int
    last: int


def _runs(path: Sequence[int]) -> Iterator[Tuple[int, int, int]]:
    """``(token, first frame, one past the last)`` of each run of equal tokens."""
    pos, n = 0, len(path)
    while pos < n:
        tok, end = int(path[pos]), pos + 1
        while end < n and int(path[end]) == tok:
            end += 1
        yield tok, pos, end
        pos = end


def greedy_lines(
    greedy: Sequence[int],
    blank: int,
    symbol_ids: Tuple[int, int],
    channels: int,
    first_spellings: Optional[Dict[int, int]] = None,
) -> List[GreedyLine]:
    """The lines of one item's greedy CTC path, in the order they start.

    Args:
        greedy: Argmax token per valid frame (``blank`` included).
        blank: Index of the blank.
        symbol_ids: ``(channel change, line end)`` token ids.
        channels: Virtual channels of the t-SOT head.
        first_spellings: Token -> the piece the answer writes for it right
            after ``>`` (where they differ).

    Returns:
        The lines; a line still open at the end of the path ends with it.
    """
    cc, nl = symbol_ids
    first_spellings = first_spellings or {}
    lines: List[GreedyLine] = []
    open_line = [-1] * channels
    count = [0] * channels
    ch = 0
    for tok, pos, end in _runs(greedy):
        if tok == blank:
            continue
        if tok == cc:
            ch = (ch + 1) % channels
        elif tok == nl:
            open_line[ch] = -1
        else:
            if open_line[ch] < 0:
                open_line[ch], count[ch] = len(lines), 0
                lines.append(GreedyLine(pos, end, tok))
            line = lines[open_line[ch]]
            count[ch] += 1
            line.end = end
            line.last = first_spellings.get(tok, tok) if count[ch] == 1 else tok
    return lines


def end_lines_at_pauses(
    post: torch.Tensor,
    enc_len: torch.Tensor,
    symbol_ids: Tuple[int, int],
    channels: int,
    gap_frames: int,
) -> torch.Tensor:
    """CTC posteriors with a line end put where a channel's words pause longer than
    ``gap_frames`` on the greedy path (a missed line end; the cascade splits its
    lines at pauses too).

    The line end goes on the first frame after the earlier word, which must be
    blank on the greedy path (so the channel there is still the word's), as a
    certain line end: the compressed frames, their CTC embeddings and the
    line-time block then all see two lines.

    Args:
        post: ``(B, T, V + 1)`` CTC posteriors (blank last).
        enc_len: ``(B,)`` valid frames.
        symbol_ids: ``(channel change, line end)`` token ids.
        channels: Virtual channels of the t-SOT head.
        gap_frames: Longest pause kept inside a line, in frames.

    Returns:
        The posteriors (a copy where a line end was put).
    """
    cc, nl = symbol_ids
    blank = post.shape[-1] - 1
    cuts = []
    for b, row in enumerate(post.argmax(-1).cpu().tolist()):
        ch = 0
        last_end = [-1] * channels  # end of the channel's last word in an open line
        for tok, pos, end in _runs(row[: int(enc_len[b])]):
            if tok == cc:
                ch = (ch + 1) % channels
            elif tok == nl:
                last_end[ch] = -1
            elif tok != blank:
                prev = last_end[ch]
                if prev >= 0 and pos - prev > gap_frames and row[prev] == blank:
                    cuts.append((b, prev))
                last_end[ch] = end
    if not cuts:
        return post
    out = post.clone()
    idx = torch.tensor(cuts, device=post.device)
    out[idx[:, 0], idx[:, 1]] = 0.0
    out[idx[:, 0], idx[:, 1], nl] = 1.0
    return out


def line_time_text(line: GreedyLine, frame_shift: float, duration: float) -> str:
    """``s.ss-e.ee>`` of a line, padded and kept within the audio."""
    start = max(0.0, line.start * frame_shift - START_PAD)
    end = min(duration, line.end * frame_shift + END_PAD)
    return f"{start:.2f}-{max(start, end):.2f}>"


class LineTimeSpeller:
    """Token chains of the line-time block (see the module doc).

    Args:
        char_ids: Token id of each character of :data:`TIME_CHARS` (each one
            token, as the answer's times are tokenized).
        text_open_id: Token id of ``<text>``.
        newline_id: Token id of the newline.
        frame_shift: Seconds per CTC frame.
        line_gap: A channel's pause (s) that ends its line (0: none;
            :func:`end_lines_at_pauses`, applied by the model to the posteriors
            before the CTC features, so that the frames see the same lines).

    Raises:
        ValueError: a character of :data:`TIME_CHARS` without an id, or a
            negative ``line_gap``.
    """

    def __init__(
        self, char_ids: Dict[str, int], text_open_id: int, newline_id: int, frame_shift: float, line_gap: float = 0.0
    ) -> None:
        missing = [c for c in TIME_CHARS if c not in char_ids]
        if missing:
            raise ValueError(f"line times need a token id for each of {missing}")
        if line_gap < 0:
            raise ValueError(f"model_conf ctc_line_gap must be >= 0, got {line_gap}")
        self.gap_frames = int(round(line_gap / frame_shift))
        self.char_ids = dict(char_ids)
        self.text_open_id = int(text_open_id)
        self.newline_id = int(newline_id)
        self.frame_shift = float(frame_shift)

    def spell(self, lines: Sequence[GreedyLine], num_frames: int) -> List[Tuple[int, int, int, int]]:
        """``(token, previous, one before, line index)`` of each block position."""
        out = []
        before = self.text_open_id
        duration = num_frames * self.frame_shift
        for k, line in enumerate(lines):
            prev2, prev = before, self.newline_id
            for ch in line_time_text(line, self.frame_shift, duration):
                tok = self.char_ids[ch]
                out.append((tok, prev, prev2, k))
                prev2, prev = prev, tok
            before = line.last
        return out


    def spell_batch(
        self, greedy: torch.Tensor, enc_len: torch.Tensor, blank: int, symbol_ids: Tuple[int, int], channels: int,
        first_spellings: Optional[Dict[int, int]] = None,
    ) -> List[List[Tuple[int, int, int, int]]]:
        """:meth:`spell` of each item's greedy CTC lines (``greedy`` ``(B, T)``)."""
        out = []
        for b, row in enumerate(greedy.cpu().tolist()):
            n = int(enc_len[b])
            out.append(self.spell(greedy_lines(row[:n], blank, symbol_ids, channels, first_spellings), n))
        return out

    def line_ends(self, spelled: Sequence[Tuple[int, int, int, int]]) -> List[int]:
        """The token written just before each line's ``>`` (the end's last digit): the
        token before the previous one of the line's first word in the answer."""
        close = self.char_ids[">"]
        return [prev for tok, prev, _, _ in spelled if tok == close]


def line_time_block(
    spelled: Sequence[Sequence[Tuple[int, int, int, int]]],
    embed_table: torch.Tensor,
    prev_proj: torch.nn.Module,
    prev2_proj: torch.nn.Module,
    line_embed: Optional[torch.nn.Embedding] = None,
) -> List[torch.Tensor]:
    """``(P_i, D)`` block embeddings of each item's spelled positions (``P_i`` may be 0).

    Each position: the token's embedding + ``prev_proj`` of the previous
    token's + ``prev2_proj`` of the one before (+ its line's code).
    """
    out = []
    for item in spelled:
        if not item:
            out.append(embed_table.new_zeros(0, embed_table.shape[1]))
            continue
        ids = torch.tensor(item, dtype=torch.long, device=embed_table.device)
        emb = embed_table[ids[:, 0]] + prev_proj(embed_table[ids[:, 1]]) + prev2_proj(embed_table[ids[:, 2]])
        if line_embed is not None:
            emb = emb + line_embed(ids[:, 3].clamp(max=line_embed.num_embeddings - 1))
        out.append(emb)
    return out
