"""The line of the text block each answer token belongs to, as an input feature.

The compressed semantic stream numbers its t-SOT lines in the order they start
(:class:`~espnet_tagspeech.model.ctc_compress.CtcCompressor` ``line_embed``),
which is the order the answer's text block lists its lines.  Giving each answer
token the index of the line it is written in lets the LLM look up the frames of
that line by content (its first word, its times) instead of counting lines
itself, which a small LLM trained from scratch does not learn within the budget.

The index of a token is the number of newlines of the text block up to and
including it, minus the one after ``<text>``: the header newline and the tokens
of line 0 carry 0, the newline ending line 0 and the tokens of line 1 carry 1,
and so on (at a newline the model writes the next line's first token).  Tokens
outside the text block carry none.  Indices past the table share its last row.

During generation the feature of each new token is added by a hook on the
LLM's input embedding, which follows every row's tokens as they are fed: this
needs greedy search (beam search reorders rows between steps).
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

def line_first_spellings(tokenizer) -> Dict[int, int]:
    """Word pieces mapped to the piece the answer has for the same word right after
    ``>`` (a SentencePiece ``▁the`` is written ``the`` there), where they differ."""
    head = len(tokenizer.encode(">"))
    out = {}
    for i in range(tokenizer.vocab_size):
        word = tokenizer.decode([i]).strip()
        if not word or tokenizer.encode(" " + word) != [i]:
            continue
        after = tokenizer.encode(">" + word)[head:]
        if len(after) == 1 and after[0] != i:
            out[i] = after[0]
    return out


State = Tuple[bool, int]  # (inside the text block, newlines seen there - 1)
START: State = (False, -1)


class AnswerLineEmbedding(torch.nn.Module):
    """A learned embedding of each answer token's text-block line (zero at start).

    Args:
        size: Rows of the table.
        d_model: The LLM's embedding size.
        open_id: Token id of ``<text>``.
        close_id: Token id of ``</text>``.
        newline_id: Token id of the newline.
    """

    def __init__(self, size: int, d_model: int, open_id: int, close_id: int, newline_id: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"answer line table size must be >= 1, got {size}")
        self.table = torch.nn.Embedding(int(size), d_model)
        torch.nn.init.zeros_(self.table.weight)
        self.open_id, self.close_id, self.newline_id = int(open_id), int(close_id), int(newline_id)

    def step(self, state: State, token: int) -> Tuple[State, int]:
        """The state after ``token`` and the token's line index (-1: none)."""
        inside, count = state
        if token == self.open_id:
            return (True, -1), -1
        if token == self.close_id:
            return (False, count), -1
        if inside and token == self.newline_id:
            count += 1
        return (inside, count), (count if inside and count >= 0 else -1)

    def indices(self, ids: Sequence[int], state: State = START) -> Tuple[List[int], State]:
        """Line index of each of ``ids`` (fed after ``state``) and the state after them."""
        out = []
        for t in ids:
            state, idx = self.step(state, int(t))
            out.append(idx)
        return out, state

    def features(self, index: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` additive features of line indices (zero where -1)."""
        rows = index.clamp(min=0, max=self.table.num_embeddings - 1)
        return self.table(rows) * (index >= 0)[..., None].to(self.table.weight.dtype)

    def embed(self, ids: Sequence[int], device: torch.device, state: State = START) -> torch.Tensor:
        """``(len(ids), D)`` features of an answer (prefix) fed after ``state``."""
        idx, _ = self.indices(ids, state)
        return self.features(torch.tensor(idx, dtype=torch.long, device=device))

    @contextlib.contextmanager
    def during_generation(self, embed_tokens: torch.nn.Module,
                          prefixes: Optional[Sequence[Sequence[int]]], batch: int) -> Iterator[None]:
        """Add the feature to every token ``embed_tokens`` embeds while generating.

        Args:
            embed_tokens: The LLM's input embedding (called with the new token of
                each row at each step).
            prefixes: Per row, the answer tokens already in the prompt (or ``None``).
            batch: Rows.

        Raises:
            RuntimeError: the embedding called with more than one token per row
                (generation without a key/value cache, or beam search).
        """
        states = [self.indices(p)[1] for p in prefixes] if prefixes is not None else [START] * batch

        def hook(module, args, output):
            ids = args[0]
            if ids.dim() != 2 or ids.shape != (batch, 1):
                raise RuntimeError(
                    f"answer line features follow one new token per row ({batch} rows), got "
                    f"input ids of shape {tuple(ids.shape)}: decode greedily with the key/value cache"
                )
            idx = []
            for b, t in enumerate(ids[:, 0].tolist()):
                states[b], i = self.step(states[b], t)
                idx.append(i)
            return output + self.features(torch.tensor(idx, device=output.device))[:, None].to(output.dtype)

        handle = embed_tokens.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()
