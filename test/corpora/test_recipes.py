"""The AMI and AliMeeting recipes' local/data.sh, run as the stage script runs them."""

import os
import subprocess
from pathlib import Path

import pytest
from corpus_fixtures import ALI_TRAIN_TURNS, ES2002A_TURNS

from espnet_tagspeech.data.formats import read_rttm
from espnet_tagspeech.data.kaldi import read_scp
from espnet_tagspeech.data.validate import validate_data_dir

REPO = Path(__file__).resolve().parents[2]
RECIPES = {"ami": REPO / "egs2" / "ami" / "tagspeech1", "alimeeting": REPO / "egs2" / "alimeeting" / "tagspeech1"}


def _run(recipe: str, env_extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run(
        ["local/data.sh", *args], cwd=RECIPES[recipe], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_layout(recipe):
    d = RECIPES[recipe]
    for link, target in [("tagspeech.sh", "tagspeech.sh"), ("path.sh", "path.sh"), ("cmd.sh", "cmd.sh"), ("db.sh", "db.sh")]:
        assert (d / link).is_symlink() and os.readlink(d / link) == f"../../TEMPLATE/tagspeech1/{target}"
        assert (d / link).resolve() == REPO / "egs2" / "TEMPLATE" / "tagspeech1" / target
    assert (d / "utils").resolve() == REPO / "utils"
    assert (d / "conf" / "slurm.conf").resolve().is_file()
    for script in ("run.sh", "local/data.sh"):
        assert os.access(d / script, os.X_OK)
        assert subprocess.run(["bash", "-n", str(d / script)]).returncode == 0


def test_ami_data_sh(ami_corpus: Path, tmp_path: Path):
    data = tmp_path / "data"
    proc = _run("ami", {"AMI": str(ami_corpus)}, "--data_dir", str(data), "--allow_missing", "true")
    assert proc.returncode == 0, proc.stderr
    for name in ("train_sdm", "dev_sdm", "test_sdm"):
        assert validate_data_dir(data / name).ok
    rttm = sorted((t.speaker, round(t.start, 3), round(t.end, 3)) for t in read_rttm(data / "train_sdm" / "rttm"))
    assert rttm == sorted((s, a, b) for _, s, _, a, b, _ in ES2002A_TURNS)
    assert sorted(read_scp(data / "train_sdm" / "text").values()) == sorted(x for *_, x in ES2002A_TURNS)
    # Without --allow_missing the full partition's absent meetings stop the run.
    proc = _run("ami", {"AMI": str(ami_corpus)}, "--data_dir", str(tmp_path / "d2"))
    assert proc.returncode != 0
    assert "meetings cannot be prepared" in proc.stderr and not (tmp_path / "d2").exists()


def test_alimeeting_data_sh(ali_corpus: Path, tmp_path: Path):
    data = tmp_path / "data"
    proc = _run("alimeeting", {"ALIMEETING": str(ali_corpus)}, "--data_dir", str(data))
    assert proc.returncode == 0, proc.stderr
    for name in ("train_far", "eval_far", "test_far"):
        assert validate_data_dir(data / name).ok
    assert sorted(read_scp(data / "train_far" / "text").values()) == sorted(x for *_, x in ALI_TRAIN_TURNS)
    assert len(read_rttm(data / "train_far" / "rttm")) == len(ALI_TRAIN_TURNS)


@pytest.mark.parametrize(
    "recipe, var, url",
    [("ami", "AMI", "https://groups.inf.ed.ac.uk/ami/download/"), ("alimeeting", "ALIMEETING", "https://www.openslr.org/119/")],
)
def test_missing_corpus_variable(recipe, var, url, tmp_path: Path):
    proc = _run(recipe, {var: ""}, "--data_dir", str(tmp_path / "data"))
    assert proc.returncode == 1
    assert f"the variable {var} is not set" in proc.stderr and url in proc.stderr
    proc = _run(recipe, {var: str(tmp_path / "nowhere")}, "--data_dir", str(tmp_path / "data"))
    assert proc.returncode == 1 and "is not a directory" in proc.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_production_config(recipe):
    import yaml

    from espnet_tagspeech.model.anchors import check_anchor_spacing

    conf = yaml.safe_load((RECIPES[recipe] / "conf" / "train.yaml").read_text())
    tiny = yaml.safe_load((REPO / "conf" / "tuning" / "train_tagspeech_tiny.yaml").read_text())
    model_keys = [k for k in tiny if k.endswith(("encoder", "encoder_conf", "projector", "projector_conf", "model_conf"))]
    model_keys += ["llm", "llm_conf"]
    assert all(conf[k] is not None for k in model_keys)
    assert conf["semantic_encoder_conf"]["model_name_or_path"] == "microsoft/wavlm-large"
    assert conf["llm_conf"]["model_name_or_path"] == "Qwen/Qwen2.5-7B-Instruct"
    assert conf["llm_conf"]["freeze"] and conf["speaker_encoder_conf"]["freeze"]
    # WavLM frames: 320 samples (20 ms); ESPnet's ECAPA mel frontend: hop 160 (10 ms).
    spacing = check_anchor_spacing(
        (conf["model_conf"]["semantic_anchor_interval"], conf["semantic_projector_conf"]["ds_rate"], 0.02),
        (conf["model_conf"]["speaker_anchor_interval"], conf["speaker_projector_conf"]["ds_rate"], 0.01),
    )
    assert spacing == pytest.approx(0.64)
    assert conf["optim_conf"]["lr"] == 0.001 and conf["scheduler_conf"]["warmup_steps"] == 500
    assert conf["batch_bins"] <= 80 * 16000
    decode = yaml.safe_load((RECIPES[recipe] / "conf" / "decode.yaml").read_text())
    assert decode == {"beam_size": 1, "max_new_tokens": 800}
