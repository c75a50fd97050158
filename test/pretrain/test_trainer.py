"""Stage-5 pre-training: SOT-CTC (semantic) and frame speaker classification (speaker)."""

import pytest
import torch
import yaml
from pretrain_fixtures import pretrain, write_speaker_labels, write_word_times

from espnet_tagspeech.model.tiny import setup_tiny
from espnet_tagspeech.tasks.tagspeech import args_from_config

TRAINABLE_ECAPA = {"speaker_encoder_conf": {"freeze": False}}


def _conf(tmp_path, cfg, **parts):
    conf = tmp_path / "pretrain.yaml"
    conf.write_text(yaml.safe_dump({"model_config": cfg, "batch_size": 4, **parts}))
    return str(conf)


def test_semantic_and_speaker_pretraining_learn_and_init_loads(tmp_path):
    from espnet_tagspeech.bin.pretrain import main
    from espnet_tagspeech.tasks.tagspeech import TagSpeechTask

    _, cfg = setup_tiny(str(tmp_path), num_cuts=4,
                        overrides={"model_conf": {"ctc_weight": 0.3}, **TRAINABLE_ECAPA})
    data = tmp_path / "data"
    rttm = write_speaker_labels(data, 4)
    conf = _conf(tmp_path, "unused.yaml", semantic={"steps": 40, "lr": 0.005, "warmup": 1},
                 speaker={"steps": 40, "lr": 0.01, "warmup": 1})
    main(["--config", conf, "--model_config", cfg, "--train_dir", str(data),
          "--valid_dir", str(data), "--train_rttm", str(rttm), "--valid_rttm", str(rttm),
          "--output_dir", str(tmp_path / "pre")])
    result = yaml.safe_load((tmp_path / "pre" / "pretrain_result.yaml").read_text())
    assert result["semantic_last_loss"] < 0.7 * result["semantic_first_loss"]
    assert result["speaker_last_loss"] < 0.5 * result["speaker_first_loss"]
    # 5 sources; frames with one active source are told apart far above chance
    assert result["speaker_valid_frame_acc"] > 0.8
    state = torch.load(tmp_path / "pre" / "init.pth", weights_only=False)
    assert any(k.startswith("ctc_head.") for k in state)
    assert any(k.startswith("speaker_encoder.encoder.") for k in state)
    assert all(k.startswith(("semantic_encoder.", "ctc_head.", "speaker_encoder.")) for k in state)
    # The keys match the TagSpeech model's, as --init_param needs.
    model = TagSpeechTask.build_model(args_from_config(cfg))
    dst = model.state_dict()
    assert set(state) <= set(dst)
    dst.update(state)
    model.load_state_dict(dst)
    torch.testing.assert_close(model.ctc_head.weight, state["ctc_head.weight"])


def test_speaker_part_needs_cut2reco_and_rttm(tmp_path):
    _, cfg = setup_tiny(str(tmp_path), num_cuts=2, overrides=TRAINABLE_ECAPA)
    data = str(tmp_path / "data")
    with pytest.raises(ValueError, match="needs --train_rttm"):
        pretrain({"model_config": cfg, "speaker": {"steps": 1}}, data, data, None, str(tmp_path / "o"))
    rttm = tmp_path / "r.rttm"
    rttm.write_text("SPEAKER reco1 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(FileNotFoundError, match="cut2reco: missing"):
        pretrain({"model_config": cfg, "speaker": {"steps": 1}}, data, data, None,
                 str(tmp_path / "o"), train_rttm=str(rttm))
    (tmp_path / "data" / "cut2reco").write_text("cut1 reco1 0.0 1.2\ncut2 reco1 zero 1.6\n")
    with pytest.raises(Exception, match=r"cut2reco:2: key 'cut2'"):
        pretrain({"model_config": cfg, "speaker": {"steps": 1}}, data, data, None,
                 str(tmp_path / "o"), train_rttm=str(rttm))
    assert not (tmp_path / "o" / "init.pth").exists()


def test_parts_frozen_for_the_main_training_are_pretrained(tmp_path):
    """The paper's recipe: encoders frozen in the model config get pre-trained all the same."""
    _, cfg = setup_tiny(str(tmp_path), num_cuts=2)  # the tiny ECAPA is frozen
    data = tmp_path / "data"
    rttm = write_speaker_labels(data, 2)
    result = pretrain({"model_config": cfg, "batch_size": 2, "speaker": {"steps": 5, "lr": 0.01}},
                      str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm))
    assert result["speaker_last_loss"] < result["speaker_first_loss"]
    state = torch.load(tmp_path / "o" / "init.pth", weights_only=False)
    assert any(k.startswith("speaker_encoder.encoder.") for k in state)


def test_learning_rate_schedule_warms_up_then_decays():
    from espnet_tagspeech.pretrain.trainer import lr_factor as _lr_factor

    steps, warmup = 100, 10
    flat = [_lr_factor(s, warmup, steps, decay=False) for s in range(steps)]
    cosine = [_lr_factor(s, warmup, steps, decay=True) for s in range(steps)]
    assert flat[0] == pytest.approx(0.1) and flat[9] == 1.0 and flat[-1] == 1.0
    assert cosine[:10] == flat[:10] and cosine[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:]))  # never rises after warm-up
    assert cosine[-1] == pytest.approx(0.05)


@pytest.mark.parametrize("batching", [{"batch_size": 4}, {"batch_sec": 8.0}], ids=["count", "seconds"])
def test_time_ordered_pretraining_learns_and_needs_word_times(tmp_path, batching):
    _, cfg = setup_tiny(str(tmp_path), num_cuts=4,
                        overrides={"model_conf": {"ctc_order": "time", "ctc_embed": True}})
    data = tmp_path / "data"
    rttm, ctm = write_speaker_labels(data, 4), write_word_times(data, 4)
    conf = {"model_config": cfg, **batching, "semantic": {"steps": 60, "lr": 0.005, "warmup": 1}}
    with pytest.raises(ValueError, match="needs --train_ctm"):
        pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                 valid_rttm=str(rttm))
    result = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                      valid_rttm=str(rttm), train_ctm=str(ctm), valid_ctm=str(ctm))
    assert result["semantic_last_loss"] < 0.5 * result["semantic_first_loss"]
    assert 0.0 <= result["semantic_valid_ter"] < 1.0
    assert (tmp_path / "o" / "init.pth").is_file()


def test_bf16_autocast_part_learns_in_bf16_and_keeps_float32_weights(tmp_path):
    """``autocast: bfloat16``: the encoder's layers run in bf16, the saved weights stay float32."""
    _, cfg = setup_tiny(str(tmp_path), num_cuts=4, overrides={"model_conf": {"ctc_order": "time"}})
    data = tmp_path / "data"
    rttm, ctm = write_speaker_labels(data, 4), write_word_times(data, 4)
    seen = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: seen.append(o.dtype) if isinstance(m, torch.nn.Linear) else None)
    try:
        result = pretrain({"model_config": cfg, "batch_size": 4,
                           "semantic": {"steps": 60, "lr": 0.005, "warmup": 1, "autocast": "bfloat16"}},
                          str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                          valid_rttm=str(rttm), train_ctm=str(ctm), valid_ctm=str(ctm))
    finally:
        handle.remove()
    assert torch.bfloat16 in seen and torch.float32 in seen  # updates in bf16, validation in float32
    assert result["semantic_last_loss"] < 0.5 * result["semantic_first_loss"]
    state = torch.load(tmp_path / "o" / "init.pth", weights_only=False)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float32}
    with pytest.raises(ValueError, match="autocast must be bfloat16, float16 or null"):
        pretrain({"model_config": cfg, "semantic": {"steps": 1, "autocast": "int8"}}, str(data), str(data),
                 None, str(tmp_path / "o2"))


def test_weight_average_is_the_mean_of_the_last_updates_and_swaps_back():
    from espnet_tagspeech.pretrain.trainer import WeightAverage

    w = torch.nn.Parameter(torch.zeros(3))
    average = WeightAverage([w], first_step=2)
    for step in range(5):  # the weights after update k are k + 1
        with torch.no_grad():
            w.fill_(step + 1.0)
        average.update(step)
    assert average.count == 3
    average.swap()
    torch.testing.assert_close(w.detach(), torch.full((3,), 4.0))  # mean of 3, 4, 5
    average.swap()
    torch.testing.assert_close(w.detach(), torch.full((3,), 5.0))
    again = WeightAverage([w], first_step=0)
    again.load_state_dict(average.state_dict())
    assert again.count == 3 and again.first_step == 2


def test_averaged_part_keeps_the_last_weights_scores_beside_the_means(tmp_path):
    """The same run with and without ``average_last``: one trajectory, two results."""
    _, cfg = setup_tiny(str(tmp_path), num_cuts=4, overrides={"model_conf": {"ctc_order": "time"}})
    data = tmp_path / "data"
    rttm, ctm = write_speaker_labels(data, 4), write_word_times(data, 4)
    paths = dict(train_rttm=str(rttm), valid_rttm=str(rttm), train_ctm=str(ctm), valid_ctm=str(ctm))
    part = {"steps": 30, "lr": 0.005, "warmup": 1, "decay": True}
    plain = pretrain({"model_config": cfg, "batch_size": 4, "semantic": part}, str(data), str(data), None,
                     str(tmp_path / "plain"), **paths)
    averaged = pretrain({"model_config": cfg, "batch_size": 4, "semantic": {**part, "average_last": 0.5}},
                        str(data), str(data), None, str(tmp_path / "avg"), **paths)
    assert averaged["semantic_last_loss"] == plain["semantic_last_loss"]  # the same updates
    assert averaged["semantic_valid_loss_last_weights"] == pytest.approx(plain["semantic_valid_loss"])
    assert averaged["semantic_valid_loss"] != pytest.approx(plain["semantic_valid_loss"])
    a = torch.load(tmp_path / "avg" / "init.pth", weights_only=False)
    b = torch.load(tmp_path / "plain" / "init.pth", weights_only=False)
    assert set(a) == set(b) and any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match=r"average_last must be in \[0, 1\], got 1.5"):
        pretrain({"model_config": cfg, "semantic": {"steps": 1, "average_last": 1.5}}, str(data), str(data),
                 None, str(tmp_path / "bad"))


def _pretrain_cmd(tmp_path, out_dir):
    import sys

    data = tmp_path / "data"
    return [sys.executable, "-m", "espnet_tagspeech.bin.pretrain", "--config", str(tmp_path / "pre.yaml"),
            "--train_dir", str(data), "--valid_dir", str(data), "--train_rttm", str(data / "rttm"),
            "--valid_rttm", str(data / "rttm"), "--output_dir", str(out_dir)]


@pytest.mark.slow
@pytest.mark.parametrize("kill_in", ["semantic", "speaker"])
def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, kill_in):
    """SIGKILL after a checkpoint of either part; the re-run ends at the same weights."""
    import random
    import signal
    import subprocess
    import time

    _, cfg = setup_tiny(str(tmp_path), num_cuts=4, overrides=TRAINABLE_ECAPA)
    write_speaker_labels(tmp_path / "data", 4)
    (tmp_path / "pre.yaml").write_text(yaml.safe_dump({
        "model_config": cfg, "batch_size": 2, "checkpoint_every": 3,
        "semantic": {"steps": 24, "lr": 0.005, "warmup": 2, "decay": True, "average_last": 0.5},
        "speaker": {"steps": 60, "lr": 0.01, "warmup": 2}}))
    subprocess.run(_pretrain_cmd(tmp_path, tmp_path / "whole"), check=True, capture_output=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_pretrain_cmd(tmp_path, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "part_semantic.pth" if kill_in == "speaker" else out / "checkpoint.pth"
    deadline = time.time() + 300
    while not (first.exists() and (out / "checkpoint.pth").exists()) and proc.poll() is None:
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.05)
    time.sleep(random.Random(kill_in).uniform(0.0, 0.05))  # soon after that checkpoint, well before the end
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "init.pth").exists()

    rerun = subprocess.run(_pretrain_cmd(tmp_path, out), check=True, capture_output=True, text=True)
    assert "resumed at update" in rerun.stderr
    if kill_in == "speaker":
        assert "SOT-CTC: finished before" in rerun.stderr
    whole = torch.load(tmp_path / "whole" / "init.pth", weights_only=False)
    resumed = torch.load(out / "init.pth", weights_only=False)
    assert set(whole) == set(resumed)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert yaml.safe_load((out / "pretrain_result.yaml").read_text()) == \
        yaml.safe_load((tmp_path / "whole" / "pretrain_result.yaml").read_text())
    assert not (out / "checkpoint.pth").exists()


def test_a_changed_config_trains_afresh(tmp_path, caplog):
    _, cfg = setup_tiny(str(tmp_path), num_cuts=2)
    data = tmp_path / "data"
    conf = {"model_config": cfg, "batch_size": 2, "semantic": {"steps": 4, "lr": 0.005, "warmup": 1}}
    first = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"))
    with caplog.at_level("INFO"):
        again = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"))
    assert again == first and "finished before" in caplog.text
    caplog.clear()
    conf["semantic"]["lr"] = 0.02
    with caplog.at_level("INFO"):
        changed = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"))
    assert "made with another config or data; starting afresh" in caplog.text
    assert changed["semantic_first_loss"] == first["semantic_first_loss"]  # same init and batches
    assert changed["semantic_last_loss"] != first["semantic_last_loss"]


def test_a_changed_speaker_part_keeps_the_finished_semantic_part(tmp_path, caplog):
    _, cfg = setup_tiny(str(tmp_path), num_cuts=2, overrides=TRAINABLE_ECAPA)
    data = tmp_path / "data"
    rttm = write_speaker_labels(data, 2)
    conf = {"model_config": cfg, "batch_size": 2, "semantic": {"steps": 4, "lr": 0.005, "warmup": 1},
            "speaker": {"steps": 4, "lr": 0.01, "warmup": 1}}
    first = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                     valid_rttm=str(rttm))
    sem = torch.load(tmp_path / "o" / "part_semantic.pth", weights_only=False)
    conf["speaker"]["lr"] = 0.02
    with caplog.at_level("INFO"):
        changed = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                           valid_rttm=str(rttm))
    assert "part_speaker.pth: made with another config" in caplog.text
    assert "part_semantic.pth: made with another config" not in caplog.text
    assert changed["semantic_last_loss"] == first["semantic_last_loss"]
    assert changed["speaker_last_loss"] != first["speaker_last_loss"]
    again = torch.load(tmp_path / "o" / "part_semantic.pth", weights_only=False)
    for a, b in zip(sem["modules"], again["modules"]):
        for k in a:
            torch.testing.assert_close(a[k], b[k])
    # the semantic part's own settings still count
    conf["semantic"]["lr"] = 0.02
    caplog.clear()
    with caplog.at_level("INFO"):
        pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm), valid_rttm=str(rttm))
    assert "part_semantic.pth: made with another config" in caplog.text
