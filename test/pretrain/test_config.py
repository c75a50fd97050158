"""The pre-training config: keys, parts and values checked before any work."""

import pytest
from pretrain_fixtures import pretrain


def test_pretrain_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        pretrain({"model_config": "x", "stepz": 3}, "a", "b", None, str(tmp_path))
    with pytest.raises(ValueError, match="nothing to do"):
        pretrain({"model_config": "x"}, "a", "b", None, str(tmp_path))
    with pytest.raises(ValueError, match=r"semantic: unknown keys \['stepz'\]"):
        pretrain({"model_config": "x", "semantic": {"stepz": 3}}, "a", "b", None, str(tmp_path))


def test_yaml_errors_name_the_file_and_key(tmp_path):
    from espnet_tagspeech.pretrain.config import PretrainConfig

    bad = tmp_path / "pre.yaml"
    bad.write_text("model_config: m.yaml\nsemantic: {steps: 10}\nbatch_secs: 20\n")
    with pytest.raises(ValueError, match=r"pre\.yaml: unknown keys \['batch_secs'\]"):
        PretrainConfig.from_yaml(bad)
    bad.write_text("model_config: m.yaml\nspeaker: {steps: 0}\n")
    with pytest.raises(ValueError, match=r"pre\.yaml: speaker: steps must be >= 1"):
        PretrainConfig.from_yaml(bad)
    with pytest.raises(ValueError, match=r"missing\.yaml: cannot read"):
        PretrainConfig.from_yaml(tmp_path / "missing.yaml")
    bad.write_text("semantic: {steps: 3, lr: 0.01}\n")
    with pytest.raises(ValueError, match="model_config: missing"):
        PretrainConfig.from_yaml(bad)
    # the recipe's --train_config fills it in and the values are typed
    conf = PretrainConfig.from_yaml(bad, model_config="conf/train.yaml")
    assert conf.model_config == "conf/train.yaml" and conf.semantic.steps == 3
    assert conf.speaker is None and conf.to_dict()["semantic"]["lr"] == 0.01


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path):
    import subprocess
    import sys

    conf = tmp_path / "pre.yaml"
    conf.write_text("model_config: m.yaml\nsemantic: {stepz: 10}\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "espnet_tagspeech.bin.pretrain", "--config", str(conf),
                           "--train_dir", "a", "--valid_dir", "b", "--output_dir", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "pre.yaml: semantic: unknown keys ['stepz']" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
