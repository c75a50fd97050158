"""The pre-training objectives: speed perturbation of the semantic part."""

import numpy as np
import pytest
import torch

from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import TagSpeechTask, args_from_config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    _, cfg = setup_tiny(str(tmp_path_factory.mktemp("tiny")), num_cuts=2)
    torch.manual_seed(0)
    return TagSpeechTask.build_model(args_from_config(cfg))


def test_speed_perturbation_changes_length_and_pitch_not_labels(model):
    from espnet_tagspeech.pretrain.data import PretrainCut
    from espnet_tagspeech.pretrain.objectives import SemanticCtcObjective

    t = np.arange(16000) / 16000
    cut = PretrainCut("c", (0.5 * np.sin(2 * np.pi * 400 * t)).astype(np.float32), [3, 4, 5])
    obj = SemanticCtcObjective(model, 64, "cpu", 16000, [0.9, 1.1])
    seen = {}
    for seed in range(8):
        (out,) = obj.perturbed([cut], np.random.default_rng(seed))
        factor = len(cut.wav) / len(out.wav)
        assert out.ctc_ids == cut.ctc_ids
        peak = np.argmax(np.abs(np.fft.rfft(out.wav))) * 16000 / len(out.wav)
        assert peak == pytest.approx(400 * factor, rel=0.02)  # the tone moves with the speed
        seen[round(factor, 1)] = True
    assert set(seen) == {0.9, 1.1}
    # the same generator state draws the same factors (a resumed run perturbs alike)
    a = obj.perturbed([cut, cut, cut], np.random.default_rng([0, 5]))
    b = obj.perturbed([cut, cut, cut], np.random.default_rng([0, 5]))
    assert [len(x.wav) for x in a] == [len(x.wav) for x in b]
    # no generator, no perturbation: the loss is the unperturbed one
    assert float(obj.loss([cut])) == pytest.approx(float(obj.loss([cut], None)))


def test_speed_perturbation_is_checked_and_semantic_only():
    from espnet_tagspeech.pretrain.config import PretrainConfig

    with pytest.raises(ValueError, match="speed_perturb must be a list of factors"):
        PretrainConfig.from_dict({"model_config": "m", "semantic": {"speed_perturb": [0.1]}})
    with pytest.raises(ValueError, match="semantic part only"):
        PretrainConfig.from_dict({"model_config": "m", "speaker": {"speed_perturb": [0.9, 1.1]}})
    conf = PretrainConfig.from_dict({"model_config": "m", "semantic": {"speed_perturb": [0.9, 1, 1.1]}})
    assert conf.semantic.speed_perturb == [0.9, 1.0, 1.1]


def test_aam_speaker_training_and_eer_on_voices_not_in_training(tmp_path):
    """AAM over single-speaker spans trains; valid speakers never heard get an EER, not an accuracy."""
    import math

    from pretrain_fixtures import pretrain, write_speaker_labels

    _, cfg = setup_tiny(str(tmp_path), num_cuts=4)
    data = tmp_path / "data"
    rttm = write_speaker_labels(data, 4)
    # the valid set: the same cuts, their voices renamed (as if never heard in training)
    valid_rttm = tmp_path / "valid.rttm"
    valid_rttm.write_text(rttm.read_text().replace(" <NA> <NA> tone", " <NA> <NA> new_tone")
                          .replace(" <NA> <NA> noise", " <NA> <NA> new_noise"))
    part = {"steps": 12, "lr": 0.01, "warmup": 1, "aam_weight": 1.0, "aam_min_sec": 0.2}
    result = pretrain({"model_config": cfg, "batch_size": 4, "speaker": part}, str(data), str(data), None,
                      str(tmp_path / "o"), train_rttm=str(rttm), valid_rttm=str(valid_rttm))
    assert result["speaker_last_loss"] < result["speaker_first_loss"]
    assert math.isnan(result["speaker_valid_frame_acc"]) and math.isnan(result["speaker_valid_loss"])
    # noise0 speaks in two cuts: one same-voice pair among the others
    assert 0.0 <= result["speaker_valid_eer"] <= 1.0
    state = torch.load(tmp_path / "o" / "init.pth", weights_only=False)
    assert all(k.startswith("speaker_encoder.") for k in state)  # the AAM weights stay behind


def test_aam_is_speaker_only():
    from espnet_tagspeech.pretrain.config import PretrainConfig

    with pytest.raises(ValueError, match="semantic: aam_weight is for the speaker part only"):
        PretrainConfig.from_dict({"model_config": "m", "semantic": {"aam_weight": 1.0}})
    with pytest.raises(ValueError, match="aam_weight must be >= 0"):
        PretrainConfig.from_dict({"model_config": "m", "speaker": {"aam_weight": -1}})


def test_mel_warp_augments_training_loss_only_and_is_checked(model):
    from types import SimpleNamespace

    from espnet_tagspeech.model.semantic import WavLMStream
    from espnet_tagspeech.pretrain.config import PretrainConfig
    from espnet_tagspeech.pretrain.data import PretrainCut
    from espnet_tagspeech.pretrain.objectives import SemanticCtcObjective

    torch.manual_seed(0)
    fbank = WavLMStream(init="random", freeze=False, frontend="fbank", frontend_conf={"n_mels": 40, "stack": 4},
                        config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, feat_extract_norm="layer", do_stable_layer_norm=True,
                                    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                                    apply_spec_augment=False)).eval()
    fb_model = SimpleNamespace(semantic_encoder=fbank, ctc_head=None, ctc_order="time")
    cut = PretrainCut("c", np.random.default_rng(0).standard_normal(16000).astype(np.float32), [3, 4, 5])
    obj = SemanticCtcObjective(fb_model, 64, "cpu", 16000, mel_warp=0.2)
    plain = float(obj.loss([cut]))
    a = float(obj.loss([cut], np.random.default_rng([0, 1])))
    b = float(obj.loss([cut], np.random.default_rng([0, 1])))
    assert a == b != plain  # warped with the factor the (seed, update) draws: a resumed run warps alike
    assert fbank.wavlm.feature_extractor.warp is None  # validation sees unwarped audio
    with pytest.raises(ValueError, match="frontend: fbank"):
        SemanticCtcObjective(model, 64, "cpu", 16000, mel_warp=0.1)  # the tiny model's conv frontend
    with pytest.raises(ValueError, match=r"mel_warp must be in \[0, 0.5\)"):
        PretrainConfig.from_dict({"model_config": "m", "semantic": {"mel_warp": 0.7}})
    with pytest.raises(ValueError, match="semantic part only"):
        PretrainConfig.from_dict({"model_config": "m", "speaker": {"mel_warp": 0.1}})
