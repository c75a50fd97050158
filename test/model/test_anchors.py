"""Time anchors: counts, positions, digit embeddings, spacing check."""

import pytest
import torch

from espnet_tagspeech.model.anchors import (
    AnchorInserter,
    anchor_count,
    check_anchor_spacing,
    digits_of,
)

DIGIT_IDS = [10 + d for d in range(10)]


@pytest.mark.parametrize(
    "frames,interval,count", [(0, 8, 1), (3, 8, 2), (8, 8, 2), (16, 8, 3), (17, 8, 4), (5, 1, 6)]
)
def test_anchor_count(frames, interval, count):
    assert anchor_count(frames, interval) == count


def test_digits_of():
    assert digits_of(0) == [0]
    assert digits_of(12) == [1, 2]
    with pytest.raises(ValueError):
        digits_of(-1)


def _embed():
    torch.manual_seed(0)
    return torch.nn.Embedding(30, 4)


def test_positions_and_content_for_a_partial_last_group():
    emb = _embed()
    ins = AnchorInserter(interval=8, digit_ids=DIGIT_IDS)
    frames = torch.randn(17, 4)
    out, pos = ins(frames, emb)
    # anchors 0,1,2 (one token each) + end anchor 3: 17 frames + 4 tokens
    assert out.shape == (21, 4)
    assert pos == [0, 9, 18, 20]
    for n, p in enumerate(pos):
        torch.testing.assert_close(out[p], emb.weight[DIGIT_IDS[n]])
    torch.testing.assert_close(out[1:9], frames[:8])
    torch.testing.assert_close(out[10:18], frames[8:16])
    torch.testing.assert_close(out[19], frames[16])


def test_audio_shorter_than_one_interval():
    emb = _embed()
    out, pos = AnchorInserter(8, DIGIT_IDS)(torch.randn(3, 4), emb)
    assert out.shape == (5, 4) and pos == [0, 4]
    out, pos = AnchorInserter(8, DIGIT_IDS)(torch.zeros(0, 4), emb)
    assert out.shape == (1, 4) and pos == [0]


def test_multi_digit_anchor_uses_each_digit_embedding():
    emb = _embed()
    out, pos = AnchorInserter(1, DIGIT_IDS)(torch.randn(12, 4), emb)
    # anchor 12 closes the sequence: embed("1"), embed("2")
    assert pos[-1] == out.shape[0] - 2
    torch.testing.assert_close(out[-2], emb.weight[DIGIT_IDS[1]])
    torch.testing.assert_close(out[-1], emb.weight[DIGIT_IDS[2]])
    torch.testing.assert_close(out[pos[10]], emb.weight[DIGIT_IDS[1]])
    torch.testing.assert_close(out[pos[10] + 1], emb.weight[DIGIT_IDS[0]])


def test_spacing_check():
    assert check_anchor_spacing((8, 2, 0.02), (8, 4, 0.01)) == pytest.approx(0.32)
    with pytest.raises(ValueError) as err:
        check_anchor_spacing((8, 4, 0.02), (8, 4, 0.01))
    assert "0.64" in str(err.value) and "0.32" in str(err.value)


def test_frame_clock_codes_second_and_tenth_from_digit_embeddings():
    from espnet_tagspeech.model.anchors import FrameClock

    digits = torch.randn(10, 6)
    clock = FrameClock(digits, max_seconds=16)
    # second 12 starts as embed("1") + embed("2")
    torch.testing.assert_close(clock.seconds.weight[12], digits[1] + digits[2])
    emb = clock(30, 0.5, torch.device("cpu"))  # frames at 0.0, 0.5, ... 14.5 s
    torch.testing.assert_close(emb[25], clock.seconds.weight[12] + clock.tenths.weight[5])
    # the same moment in a stream of another frame rate gets the same code
    torch.testing.assert_close(clock(200, 0.05, torch.device("cpu"))[130],
                               clock.seconds.weight[6] + clock.tenths.weight[5])
    # times past the table share its last second
    late = clock(40, 1.0, torch.device("cpu"))
    torch.testing.assert_close(late[39], clock.seconds.weight[15] + clock.tenths.weight[0])
