"""SOT-CTC pre-training of the semantic encoder writes an init.pth that loads."""

import pytest
import torch
import yaml

from espnet_tagspeech.model.tiny import build_args, setup_tiny


def test_pretrain_lowers_ctc_loss_and_init_loads(tmp_path):
    from espnet_tagspeech.bin.pretrain import main
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    _, cfg = setup_tiny(str(tmp_path), num_cuts=4, overrides={"model_conf": {"ctc_weight": 0.3}})
    conf = tmp_path / "pretrain.yaml"
    conf.write_text(yaml.safe_dump({"model_config": cfg, "steps": 40, "lr": 0.005, "batch_size": 4}))
    data = str(tmp_path / "data")
    main(["--config", str(conf), "--train_dir", data, "--valid_dir", data,
          "--output_dir", str(tmp_path / "pre")])
    result = yaml.safe_load((tmp_path / "pre" / "pretrain_result.yaml").read_text())
    assert result["last_loss"] < 0.7 * result["first_loss"]
    state = torch.load(tmp_path / "pre" / "init.pth", weights_only=False)
    assert any(k.startswith("ctc_head.") for k in state)
    assert all(k.startswith(("semantic_encoder.", "ctc_head.")) for k in state)
    # The keys match the TagSpeech model's, as --init_param needs.
    model = TagSpeechTask.build_model(build_args(cfg))
    dst = model.state_dict()
    assert set(state) <= set(dst)
    dst.update(state)
    model.load_state_dict(dst)
    torch.testing.assert_close(model.ctc_head.weight, state["ctc_head.weight"])


def test_pretrain_config_errors(tmp_path):
    from espnet_tagspeech.bin.pretrain import pretrain

    with pytest.raises(ValueError, match="unknown keys"):
        pretrain({"model_config": "x", "stepz": 3}, "a", "b", None, str(tmp_path))
