"""The line-time block: the CTC head's greedy lines spelled as the answer writes their times."""

import pytest
import torch

from espnet_tagspeech.model.line_times import (
    END_PAD,
    START_PAD,
    TIME_CHARS,
    GreedyLine,
    LineTimeSpeller,
    greedy_lines,
    line_time_block,
    line_time_text,
)

B, CC, NL, OPEN = 9, 7, 8, 6  # blank, channel change, line end, <text>
A, C, D, E = 1, 2, 3, 4  # words
CHARS = {c: 10 + i for i, c in enumerate(TIME_CHARS)}


def _path(*runs):
    """A greedy path from (token, frames) runs."""
    return [tok for tok, n in runs for _ in range(n)]


def test_greedy_lines_follow_the_channels_in_start_order():
    # ch0: A C (frames 2-6) | ch1: D (frames 8-9, overlapping) | ch0: \n, then E (frame 15)
    path = _path((B, 2), (A, 2), (B, 2), (C, 1), (CC, 1), (D, 2), (CC, 1), (NL, 1), (B, 3), (E, 1), (B, 2))
    lines = greedy_lines(path, B, (CC, NL), channels=2, first_spellings={D: 5})
    assert lines == [GreedyLine(2, 7, C), GreedyLine(8, 10, 5), GreedyLine(15, 16, E)]


def test_greedy_lines_of_a_blank_path_are_none():
    assert greedy_lines([B] * 10, B, (CC, NL), channels=2) == []


def test_line_time_text_pads_and_stays_within_the_audio():
    assert line_time_text(GreedyLine(20, 30, A), 0.05, 10.0) == f"{1.0 - START_PAD:.2f}-{1.5 + END_PAD:.2f}>"
    assert line_time_text(GreedyLine(0, 200, A), 0.05, 10.0) == "0.00-10.00>"


def test_speller_chains_each_line_after_the_previous_line_s_last_token():
    speller = LineTimeSpeller(CHARS, OPEN, NL, frame_shift=0.05)
    lines = [GreedyLine(4, 10, C), GreedyLine(42, 60, E)]  # 0.10-0.85>, 2.00-3.35>
    spelled = speller.spell(lines, num_frames=100)
    text = "".join(TIME_CHARS[t - 10] for t, _, _, _ in spelled)
    assert text == "0.10-0.85>2.00-3.35>"
    first = spelled[0]
    assert first[1:] == (NL, OPEN, 0)  # after <text> and the newline, line 0
    second = spelled[len("0.10-0.85>")]
    assert second[1:] == (NL, C, 1)  # after line 0's last token and the newline
    # inside a line each position follows the two characters before it
    assert spelled[2][1:3] == (CHARS["."], CHARS["0"])


def test_speller_needs_every_time_character():
    with pytest.raises(ValueError, match="token id for each"):
        LineTimeSpeller({c: i for i, c in enumerate("0123456789")}, OPEN, NL, 0.05)


def test_block_embeds_token_and_both_previous_tokens():
    torch.manual_seed(0)
    d = 6
    table = torch.randn(40, d)
    prev, prev2 = torch.nn.Linear(d, d, bias=False), torch.nn.Linear(d, d, bias=False)
    lines_emb = torch.nn.Embedding(2, d)
    speller = LineTimeSpeller(CHARS, OPEN, NL, frame_shift=0.05)
    path = _path((B, 4), (A, 1), (B, 4), (NL, 1), (B, 30), (C, 1), (B, 9))
    greedy = torch.tensor([path, [B] * len(path)])
    spelled = speller.spell_batch(greedy, torch.tensor([len(path), len(path)]), B, (CC, NL), 2)
    assert spelled[0] == speller.spell(greedy_lines(path, B, (CC, NL), 2), len(path)) and spelled[1] == []
    blocks = line_time_block(spelled, table, prev, prev2, lines_emb)
    assert blocks[1].shape == (0, d)  # nothing recognised, no block
    assert blocks[0].shape == (len(spelled[0]), d)
    tok, p1, p2, k = spelled[0][-1]  # the second line's '>'
    want = table[tok] + prev(table[p1]) + prev2(table[p2]) + lines_emb(torch.tensor(min(k, 1)))
    assert torch.allclose(blocks[0][-1], want, atol=1e-6)
    # each line's end digit, fed before its first word
    assert speller.line_ends(spelled[0]) == [CHARS["0"], CHARS["0"]]  # 0.10-0.60>, 1.90-2.40>


def test_a_long_pause_of_a_channel_ends_its_line():
    from espnet_tagspeech.model.line_times import end_lines_at_pauses

    # ch0: A, then C 7 frames after A's end; ch1's D in between does not end ch0's line
    path = _path((B, 1), (A, 2), (B, 1), (CC, 1), (D, 1), (CC, 1), (B, 3), (C, 1), (B, 2))
    post = torch.nn.functional.one_hot(torch.tensor([path]), num_classes=B + 1).float()
    lens = torch.tensor([len(path)])
    kept = end_lines_at_pauses(post, lens, (CC, NL), 2, gap_frames=7)
    assert kept is post  # a pause of 7 frames is kept
    split = end_lines_at_pauses(post, lens, (CC, NL), 2, gap_frames=6)
    greedy = split.argmax(-1)[0].tolist()
    assert greedy[3] == NL and greedy[:3] + greedy[4:] == path[:3] + path[4:]
    assert post.argmax(-1)[0].tolist() == path  # the input is left as it was
    lines = greedy_lines(greedy, B, (CC, NL), 2)
    assert [(ln.start, ln.last) for ln in lines] == [(1, A), (5, D), (10, C)]
    # no blank right after the word (a channel change there): no place to end the line
    busy = _path((A, 1), (CC, 1), (D, 1), (CC, 1), (B, 8), (C, 1))
    post2 = torch.nn.functional.one_hot(torch.tensor([busy]), num_classes=B + 1).float()
    assert end_lines_at_pauses(post2, torch.tensor([len(busy)]), (CC, NL), 2, gap_frames=2) is post2


def test_line_gap_must_not_be_negative():
    with pytest.raises(ValueError, match="ctc_line_gap must be >= 0"):
        LineTimeSpeller(CHARS, OPEN, NL, 0.05, line_gap=-1.0)
    assert LineTimeSpeller(CHARS, OPEN, NL, 0.05, line_gap=1.0).gap_frames == 20
