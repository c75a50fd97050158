"""WavLM semantic stream: the fbank frontend option of the small random-init models."""

import pytest
import torch

from espnet_tagspeech.model.semantic import FbankStackFrontend, WavLMStream

CONFIG = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4, num_buckets=32, max_bucket_distance=64,
    apply_spec_augment=False, hidden_dropout=0.0, attention_dropout=0.0,
    activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0,
)


def _stream(**kw):
    torch.manual_seed(0)
    return WavLMStream(init="random", config=CONFIG, freeze=False, frontend="fbank",
                       frontend_conf={"n_mels": 40, "stack": 4}, **kw).eval()


@pytest.mark.parametrize("num_samples", [992, 993, 1631, 1632, 16000, 23456])
def test_fbank_lengths_match_wavlm_length_arithmetic(num_samples):
    stream = _stream()
    feats, lens = stream(torch.randn(1, num_samples), torch.tensor([num_samples]))
    # one stacked frame per 4 x 10 ms mel frames that fit wholly (512-sample FFT, no centring)
    expected = ((num_samples - 512) // 160 + 1) // 4
    assert int(lens[0]) == expected == feats.shape[1]
    assert feats.shape[2] == 32
    assert stream.frame_shift == pytest.approx(0.04)


def test_fbank_frontend_is_log_mel_stacked_in_time_order():
    fe = FbankStackFrontend(n_mels=8, stack=3)
    wav = torch.randn(1, 16000)
    out = fe(wav)
    mel = torch.log(fe.mel(wav) + 1e-6)
    assert out.shape == (1, 24, mel.shape[-1] // 3)
    # output frame t holds mel frames 3t, 3t+1, 3t+2 one after another
    torch.testing.assert_close(out[0, :8, 5], mel[0, :, 15])
    torch.testing.assert_close(out[0, 8:16, 5], mel[0, :, 16])
    torch.testing.assert_close(out[0, 16:, 5], mel[0, :, 17])


def test_fbank_batch_equals_one_by_one():
    stream = _stream()
    a, b = torch.randn(12000), torch.randn(20000)
    batch = torch.zeros(2, 20000)
    batch[0, :12000], batch[1] = a, b
    feats, lens = stream(batch, torch.tensor([12000, 20000]))
    fa, _ = stream(a[None], torch.tensor([12000]))
    fb, _ = stream(b[None], torch.tensor([20000]))
    torch.testing.assert_close(feats[0, : int(lens[0])], fa[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(feats[1], fb[0], atol=1e-4, rtol=1e-4)


def test_fbank_stream_learns_and_trains_the_frontend_free_parts():
    stream = _stream()
    stream.train()
    head = torch.nn.Linear(32, 2)
    opt = torch.optim.Adam(list(stream.parameters()) + list(head.parameters()), lr=3e-3)
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * torch.pi * 440 * t)[None]
    noise = 0.3 * torch.randn(1, 16000)
    x, lens = torch.cat([tone, noise]), torch.tensor([16000, 16000])
    first = None
    for _ in range(30):
        feats, _ = stream(x, lens)
        loss = torch.nn.functional.cross_entropy(head(feats.mean(1)), torch.tensor([0, 1]))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_bad_frontend_settings_are_named():
    with pytest.raises(ValueError, match="frontend 'mfcc' unknown; valid"):
        WavLMStream(init="random", config=CONFIG, frontend="mfcc")
    with pytest.raises(ValueError, match="needs init: random"):
        WavLMStream(model_name_or_path="some/dir", init="pretrained", frontend="fbank")
    with pytest.raises(ValueError, match="win_length <= n_fft"):
        FbankStackFrontend(n_fft=256, win_length=400)


def test_mel_warp_moves_bands_by_the_factor_and_one_is_identity():
    from espnet_tagspeech.model.semantic import warp_mel_axis

    feats = torch.zeros(3, 40, 5)
    feats[:, 20] = 1.0  # one bright band
    out = warp_mel_axis(feats, torch.tensor([1.0, 0.8, 1.25]))
    torch.testing.assert_close(out[0], feats[0])
    # band k reads band k * factor: band 20 shows up at 20 / factor
    assert int(out[1, :, 0].argmax()) == 25
    assert int(out[2, :, 0].argmax()) == 16
    assert torch.all(out[:, :, 0] == out[:, :, 4])  # every frame alike


def test_mel_warp_applies_inside_the_block_only():
    stream = _stream()
    wav = torch.randn(2, 16000)
    lens = torch.tensor([16000, 16000])
    plain, _ = stream(wav, lens)
    with stream.mel_warp(torch.tensor([1.0, 1.15])):
        warped, _ = stream(wav, lens)
    again, _ = stream(wav, lens)
    torch.testing.assert_close(warped[0], plain[0])
    assert not torch.allclose(warped[1], plain[1], atol=1e-3)
    torch.testing.assert_close(again, plain)


def test_mel_warp_needs_the_fbank_frontend():
    torch.manual_seed(0)
    conv = WavLMStream(init="random", config=CONFIG, freeze=False)
    with pytest.raises(ValueError, match="frontend: fbank"):
        with conv.mel_warp(torch.tensor([1.1])):
            pass


def test_speech_mean_leaves_out_padding_and_silence():
    from espnet_tagspeech.model.semantic import speech_mean

    feats = torch.full((2, 4, 10), -13.8)  # log of the floor: padding / digital silence
    feats[0, :, :6] = torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None]
    feats[1, :, :3] = torch.tensor([-1.0, 0.0, 1.0, 2.0])[:, None]
    mean = speech_mean(feats)
    assert mean.shape == (2, 4, 1)
    torch.testing.assert_close(mean[0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(mean[1, :, 0], torch.tensor([-1.0, 0.0, 1.0, 2.0]))


def test_mean_norm_removes_a_constant_spectral_tilt():
    torch.manual_seed(0)
    wav = torch.randn(1, 16000) * 0.1
    plain = FbankStackFrontend(n_mels=16, stack=1, mean_norm=True)
    # a louder copy of the same signal: log-mel moves by a constant in every band
    louder = plain(wav * 3.0)
    torch.testing.assert_close(plain(wav), louder, atol=1e-3, rtol=1e-3)
    assert not torch.allclose(FbankStackFrontend(n_mels=16, stack=1)(wav),
                              FbankStackFrontend(n_mels=16, stack=1)(wav * 3.0), atol=1e-1)
    # each band of the normalised frames has zero mean over the item's speech
    assert plain(wav).mean(-1).abs().max() < 1e-4


def test_fbank_frontend_stays_float32_under_bf16_autocast():
    """The log-mel features are the same with the layers after them in bf16."""
    torch.manual_seed(0)
    wav = torch.randn(2, 8000)
    fe = FbankStackFrontend(n_mels=16, stack=2)
    plain = fe(wav)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = fe(wav)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain, rtol=0, atol=0)
