"""StackMLPProjector: frame stacking by reshape, tail padding, lengths."""

import pytest
import torch

from espnet_tagspeech.model.projector import StackMLPProjector


def test_shapes_and_lengths_for_odd_frame_counts():
    torch.manual_seed(0)
    proj = StackMLPProjector(input_size=6, output_size=10, ds_rate=4)
    x = torch.randn(2, 11, 6)
    out, lens = proj(x, torch.tensor([11, 5]))
    assert out.shape == (2, 3, 10)
    assert lens.tolist() == [3, 2]


def test_stacking_is_a_reshape_of_consecutive_frames():
    torch.manual_seed(0)
    proj = StackMLPProjector(input_size=3, output_size=5, ds_rate=2)
    x = torch.randn(1, 5, 3)
    out, _ = proj(x, torch.tensor([5]))
    mlp = lambda v: proj.linear2(torch.relu(proj.linear1(v)))
    torch.testing.assert_close(out[0, 1], mlp(torch.cat([x[0, 2], x[0, 3]])))
    # The partial last group sees zeros in place of the missing frame.
    torch.testing.assert_close(out[0, 2], mlp(torch.cat([x[0, 4], torch.zeros(3)])))


def test_padding_does_not_leak_into_an_item():
    torch.manual_seed(0)
    proj = StackMLPProjector(input_size=4, output_size=8, ds_rate=3)
    a = torch.randn(7, 4)
    alone, _ = proj(a[None], torch.tensor([7]))
    batch = torch.randn(2, 12, 4)  # garbage after frame 7 of item 1
    batch[1, :7] = a
    out, lens = proj(batch, torch.tensor([12, 7]))
    assert int(lens[1]) == 3
    torch.testing.assert_close(out[1, :3], alone[0])


def test_bad_ds_rate():
    with pytest.raises(ValueError, match="ds_rate"):
        StackMLPProjector(4, 8, ds_rate=0)


def test_output_norm_starts_at_the_requested_scale_and_learns():
    torch.manual_seed(0)
    proj = StackMLPProjector(input_size=6, output_size=16, ds_rate=2, output_norm=True)
    proj.match_scale(0.05)
    x = 100.0 * torch.randn(3, 10, 6)  # encoder frames far larger than LLM embeddings
    out, _ = proj(x, torch.tensor([10, 10, 10]))
    rms = out.pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, 0.05), rtol=1e-3, atol=1e-4)
    assert proj.norm.weight.requires_grad
    # without the norm the scale follows the input, and match_scale changes nothing
    plain = StackMLPProjector(input_size=6, output_size=16, ds_rate=2)
    before = plain(x, torch.tensor([10, 10, 10]))[0]
    plain.match_scale(0.05)
    torch.testing.assert_close(plain(x, torch.tensor([10, 10, 10]))[0], before)
    assert before.pow(2).mean().sqrt() > 1.0
