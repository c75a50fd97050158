"""The text-block line of each answer token as an input feature, in training and in generation."""

import pytest
import torch

from espnet_tagspeech.model.answer_lines import START, AnswerLineEmbedding, line_first_spellings

OPEN, CLOSE, NL = 1, 2, 3


def _lines(size=4, d=6):
    return AnswerLineEmbedding(size, d, OPEN, CLOSE, NL)


def test_indices_count_the_text_block_lines_and_stop_at_its_end():
    # <text> \n a b \n c \n </text> \n <speaker> x \n
    ids = [OPEN, NL, 10, 11, NL, 12, NL, CLOSE, NL, 20, 21, NL]
    idx, state = _lines().indices(ids)
    assert idx == [-1, 0, 0, 0, 1, 1, 2, -1, -1, -1, -1, -1]
    assert state == (False, 2)
    # fed in two parts, the same indices
    head, mid = _lines().indices(ids[:5])
    tail, _ = _lines().indices(ids[5:], mid)
    assert head + tail == idx


def test_features_are_zero_outside_the_text_block_and_past_the_table_share_its_last_row():
    lines = _lines(size=2)
    with torch.no_grad():
        lines.table.weight.copy_(torch.arange(12, dtype=torch.float32).view(2, 6))
    got = lines.features(torch.tensor([-1, 0, 1, 5]))
    assert not got[0].any()
    torch.testing.assert_close(got[1:], lines.table.weight[[0, 1, 1]])
    with pytest.raises(ValueError, match=">= 1"):
        AnswerLineEmbedding(0, 6, OPEN, CLOSE, NL)


def test_generation_hook_adds_the_features_of_each_new_token_and_goes_away():
    lines = _lines()
    with torch.no_grad():
        lines.table.weight.normal_()
    emb = torch.nn.Embedding(30, 6)
    fed = [[OPEN, NL, 10, NL, 11], [OPEN, NL, 12, 13, 14]]
    with lines.during_generation(emb, [[], [OPEN]], batch=2):
        steps = [emb(torch.tensor([[a], [b]])) for a, b in zip(*fed)]
    got = torch.cat(steps, dim=1)
    # row 0 starts fresh, row 1 after a prefix '<text>': its first '<text>' restarts the block
    for row, prefix in ((0, []), (1, [OPEN])):
        _, state = lines.indices(prefix)
        want = emb(torch.tensor(fed[row])) + lines.embed(fed[row], torch.device("cpu"), state)
        torch.testing.assert_close(got[row], want)
    assert not emb._forward_hooks
    with pytest.raises(RuntimeError, match="one new token per row"):
        with lines.during_generation(emb, None, batch=2):
            emb(torch.tensor([[1, 2], [3, 4]]))
    assert lines.indices([])[1] == START


class _WordTokenizer:
    """Whole words with a word-start mark, as SentencePiece writes them: ``a b>c`` is
    ``▁a ▁b > c`` (the word glued to ``>`` has no mark)."""

    pieces = ["▁the", "the", ">", "▁demo", "▁okay", "okay", "▁x"]

    @property
    def vocab_size(self):
        return len(self.pieces)

    def encode(self, text):
        out = []
        for word in text.split():
            for k, part in enumerate(word.split(">")):
                if k:
                    out.append(self.pieces.index(">"))
                if part:
                    piece = ("▁" if k == 0 else "") + part
                    if piece not in self.pieces:
                        return [-1]
                    out.append(self.pieces.index(piece))
        return out

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids).replace("▁", " ")


def test_line_first_spellings_map_word_pieces_to_their_spelling_after_the_line_start():
    tok = _WordTokenizer()
    p = tok.pieces.index
    # '▁demo' and '▁x' have no spelling of their own after '>' (not a piece): not mapped
    assert line_first_spellings(tok) == {p("▁the"): p("the"), p("▁okay"): p("okay")}
