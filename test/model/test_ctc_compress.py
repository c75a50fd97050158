"""CTC compression of the semantic stream: run starts, kept frames, previous-token and
tenths features, anchors that stay in time."""

import pytest
import torch

from espnet_tagspeech.model.anchors import AnchorInserter
from espnet_tagspeech.model.ctc_compress import CtcCompressor, ctc_run_starts

B = 9  # blank index in these tests


def test_run_starts_skip_blanks_repeats_and_padding():
    greedy = torch.tensor([[B, 3, 3, B, 3, 4, 4, B], [5, 5, B, 6, B, 7, 7, 7]])
    starts = ctc_run_starts(greedy, torch.tensor([8, 4]), blank=B)
    assert starts[0].nonzero().flatten().tolist() == [1, 4, 5]  # 3 again after a blank: new run
    assert starts[1].nonzero().flatten().tolist() == [0, 3]  # frames 4.. are padding


def _compressor(d=4, ds_rate=2, frame_shift=0.05, spacing=1.0):
    digits = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, d)
    return CtcCompressor(d, ds_rate, frame_shift, spacing, digits)


def test_kept_frames_previous_tokens_and_tenths():
    comp = _compressor()
    table = torch.eye(9, 4)  # token i -> unit vector i (tokens >= 4 -> zero rows)
    with torch.no_grad():
        comp.prev_proj.weight.copy_(2 * torch.eye(4))
    # encoder frames of 50 ms, projected frames of 100 ms (pairs)
    greedy = torch.tensor([[B, 1, B, B, 2, 2, B, 3, B, B, B, B]])
    keep, extra = comp(greedy, torch.tensor([12]), num_out=6, blank=B, embed_table=table)
    # token starts at encoder frames 1, 4, 7 -> projected frames 0, 2, 3
    assert keep[0].tolist() == [True, False, True, True, False, False]
    tenths = comp.tenths.weight
    # projected frame j starts at j * 0.1 s: tenths digit j
    torch.testing.assert_close(extra[0, 0], tenths[0])  # no previous token
    torch.testing.assert_close(extra[0, 2], tenths[2] + 2 * table[1])  # after token 1
    torch.testing.assert_close(extra[0, 3], tenths[3] + 2 * table[2])  # after token 2
    # the previous token of a frame is the last one that started before the frame begins
    torch.testing.assert_close(extra[0, 5], tenths[5] + 2 * table[3])


def test_tenths_wrap_at_each_anchor_and_prev_proj_starts_at_zero():
    comp = _compressor(ds_rate=1, frame_shift=0.05, spacing=1.0)
    assert comp.frame_tenths(45, torch.device("cpu")).tolist() == [
        (j * 5 % 100) // 10 for j in range(45)
    ]
    assert float(comp.prev_proj.weight.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="digit_embeddings"):
        CtcCompressor(4, 1, 0.05, 1.0, torch.zeros(9, 4))


def test_anchors_keep_their_time_in_a_compressed_stream():
    emb = torch.nn.Embedding(20, 3)
    digits = list(range(10, 20))
    frames = torch.arange(25, dtype=torch.float32)[:, None].repeat(1, 3)
    keep = torch.zeros(25, dtype=torch.bool)
    keep[[2, 3, 17, 24]] = True  # nothing kept between anchors 1 and 2
    seq, positions = AnchorInserter(8, digits)(frames, emb, keep)
    anchor = lambda n: emb(torch.tensor([digits[n]]))[0]
    # anchor 0, frames 2 3, anchor 1, anchor 2, frame 17, anchor 3, frame 24, anchor 4 (end)
    assert positions == [0, 3, 4, 6, 8]
    assert seq.shape[0] == 9
    for n, p in enumerate(positions):
        torch.testing.assert_close(seq[p], anchor(n))
    assert [float(seq[i, 0]) for i in (1, 2, 5, 7)] == [2.0, 3.0, 17.0, 24.0]
    full, _ = AnchorInserter(8, digits)(frames, emb)
    assert full.shape[0] == 25 + 5


CC, NL = 7, 8  # <cc> and newline ids in the channel tests


def _starts(seq):
    g = torch.tensor([seq])
    return g, ctc_run_starts(g, torch.tensor([len(seq)]), blank=B)


def test_channel_features_follow_tsot_channels_and_number_lines():
    digits = torch.zeros(10, 4)
    comp = CtcCompressor(4, 1, 0.05, 1.0, digits, channels=2, symbol_ids=(CC, NL), line_embed=4)
    # line 0 on channel 0: 1 2 ... 4 <nl>; line 1 on channel 1: 3 ... 5 <nl>; then line 2 on
    # channel 0: 6 (its previous token is the channel's line end)
    seq = [1, B, 2, CC, 3, CC, 4, NL, CC, 5, NL, CC, 6, B]
    g, st = _starts(seq)
    prev, prev2, line = comp.channel_features(g, st, len(seq), B)
    got = {i: (int(prev[0, i]), int(line[0, i])) for i in range(len(seq)) if seq[i] not in (B, CC)}
    assert got == {0: (B, 0), 2: (1, 0), 4: (B, 1), 6: (2, 0), 7: (4, 0), 9: (3, 1), 10: (5, 1),
                   12: (NL, 2)}
    assert line[0, 3] == -1 and line[0, 1] == -1  # channel changes and blanks carry no line
    # two steps back, on the same channel
    got2 = {i: int(prev2[0, i]) for i in got}
    assert got2 == {0: B, 2: B, 4: B, 6: 1, 7: 2, 9: B, 10: 3, 12: 4}


def test_line_start_token_stands_for_the_line_end_and_prev2_is_added():
    digits = torch.zeros(10, 4)
    LS = 6  # the answer's '>' in this test
    comp = CtcCompressor(4, 1, 0.05, 1.0, digits, channels=2, symbol_ids=(CC, NL), prev_context=2,
                         line_start_id=LS, line_first_ids={3: 5})
    seq = [1, 2, NL, 3, 4, B]  # line 0: 1 2, line 1: 3 4 (channel 0); 3 opening a line is spelled 5
    g, st = _starts(seq)
    prev, prev2, _ = comp.channel_features(g, st, len(seq), B)
    assert prev[0, :5].tolist() == [B, 1, 2, LS, 5]
    assert prev2[0, :5].tolist() == [B, B, 1, 2, LS]
    table = torch.randn(10, 4)
    with torch.no_grad():
        comp.prev2_proj.weight.copy_(torch.eye(4))
    _, extra = comp(g, torch.tensor([len(seq)]), len(seq), B, table)
    torch.testing.assert_close(extra[0, 4], table[LS] + comp.tenths.weight[0])  # prev_proj is zero
    torch.testing.assert_close(extra[0, 0], comp.tenths.weight[0])  # nothing before the first token
    # with line times each line's first word follows its end digit and '>', the first line's too
    prev, prev2, _ = comp.channel_features(g, st, len(seq), B, first_prev2=[[7, 8]])
    assert prev[0, :5].tolist() == [LS, 1, 2, LS, 5] and prev2[0, :5].tolist() == [7, LS, 1, 8, LS]
    assert CtcCompressor(4, 1, 0.05, 1.0, digits, tenths=False).tenths is None
    with pytest.raises(ValueError, match="prev_context must be 1 or 2"):
        CtcCompressor(4, 1, 0.05, 1.0, digits, channels=2, symbol_ids=(CC, NL), prev_context=3)
    with pytest.raises(ValueError, match="set channels"):
        CtcCompressor(4, 1, 0.05, 1.0, digits, prev_context=2)


def test_line_embedding_is_added_to_kept_frames_and_trains():
    digits = torch.zeros(10, 4)
    comp = CtcCompressor(4, 1, 0.05, 1.0, digits, channels=2, symbol_ids=(CC, NL), line_embed=3)
    seq = [1, NL, 2, NL, 3, NL, 4, B]  # four lines on channel 0: the fourth shares the last entry
    g, _ = _starts(seq)
    keep, extra = comp(g, torch.tensor([len(seq)]), len(seq), B, torch.zeros(10, 4))
    w = comp.line_embed.weight
    for pos, ln in ((0, 0), (2, 1), (4, 2), (6, 2)):
        torch.testing.assert_close(extra[0, pos], w[ln] + comp.tenths.weight[0])
    extra.sum().backward()
    assert comp.line_embed.weight.grad.abs().sum() > 0


def test_channel_features_need_the_symbol_ids():
    with pytest.raises(ValueError, match="<cc>"):
        CtcCompressor(4, 1, 0.05, 1.0, torch.zeros(10, 4), channels=2)
    with pytest.raises(ValueError, match="channels"):
        CtcCompressor(4, 1, 0.05, 1.0, torch.zeros(10, 4), symbol_ids=(CC, NL), line_embed=4)


def _peaky(greedy, labels=B + 1, peak=0.9):
    """Posteriors whose argmax is ``greedy``, ``peak`` on it and the rest spread evenly."""
    post = torch.full((*greedy.shape, labels), (1 - peak) / (labels - 1))
    return post.scatter(2, greedy[..., None], peak)


def test_corruption_substitutes_or_deletes_whole_runs_and_keeps_their_shape():
    from espnet_tagspeech.model.ctc_compress import corrupt_ctc_posteriors

    greedy = torch.tensor([[B, 3, 3, B, 4, B, 8, B, 5, 5, B, B]] * 200)
    post = _peaky(greedy)
    lens = torch.full((200,), 10)  # the last two frames are padding
    out = corrupt_ctc_posteriors(post, lens, 0.5, keep_ids=(8,), generator=torch.Generator().manual_seed(0))
    g = out.argmax(-1)
    assert torch.equal(g[:, 1], g[:, 2]) and torch.equal(g[:, 8], g[:, 9])  # a run changes as a whole
    assert torch.all(g[:, 6] == 8)  # kept symbol
    assert torch.equal(out[:, 10:], post[:, 10:]) and torch.all(g[:, [0, 3, 5, 7]] == B)  # padding, blanks
    changed = (g[:, [1, 4, 8]] != greedy[:, [1, 4, 8]]).float().mean()
    assert 0.35 < float(changed) < 0.6  # about half of the runs (a substitute may draw the same token)
    deleted = (g[:, [1, 4, 8]] == B).float().mean()
    assert 0.15 < float(deleted) < 0.35
    # every frame keeps its distribution's shape: the same values, two labels swapped
    torch.testing.assert_close(out.sort(-1).values, post.sort(-1).values)
    assert torch.allclose(out.sum(-1), post.sum(-1))


def test_no_corruption_at_rate_zero_and_in_eval():
    from espnet_tagspeech.model.ctc_compress import corrupt_ctc_posteriors

    post = _peaky(torch.tensor([[B, 3, 3, B, 4, B]]))
    assert torch.equal(corrupt_ctc_posteriors(post, torch.tensor([6]), 0.0), post)
