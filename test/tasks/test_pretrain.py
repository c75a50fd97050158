"""Stage-5 pre-training: SOT-CTC (semantic) and frame speaker classification (speaker)."""

from pathlib import Path

import pytest
import torch
import yaml

from espnet_tagspeech.model.tiny import _CUTS, build_args, setup_tiny

TRAINABLE_ECAPA = {"speaker_encoder_conf": {"freeze": False}}


def _write_speaker_labels(data: Path, num_cuts: int) -> Path:
    """cut2reco (each cut its own recording) and an RTTM whose speakers are the sources."""
    rttm = data / "rttm"
    with open(data / "cut2reco", "w") as c2r, open(rttm, "w") as f:
        for k, (dur, spans) in enumerate(_CUTS[:num_cuts]):
            key = f"cut{k + 1}"
            c2r.write(f"{key} reco{k + 1} 0.00 {dur:.2f}\n")
            for _, _, s, e, _, kind, freq in spans:
                f.write(f"SPEAKER reco{k + 1} 1 {s:.3f} {e - s:.3f} <NA> <NA> {kind}{int(freq)} <NA> <NA>\n")
    return rttm


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
    rttm = _write_speaker_labels(data, 4)
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
    model = TagSpeechTask.build_model(build_args(cfg))
    dst = model.state_dict()
    assert set(state) <= set(dst)
    dst.update(state)
    model.load_state_dict(dst)
    torch.testing.assert_close(model.ctc_head.weight, state["ctc_head.weight"])


def test_frame_labels_follow_the_spans():
    import numpy as np

    from espnet_tagspeech.bin.pretrain import PretrainCut, frame_labels

    cut = PretrainCut("c", np.zeros(16000, dtype=np.float32), [1], [(0, 0.0, 0.25), (2, 0.2, 0.5)])
    lab = frame_labels([cut], 10, 0.1, 3)  # frame centres 0.05, 0.15, ...
    assert lab[0, :, 0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert lab[0, :, 1].sum() == 0
    assert lab[0, :, 2].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]


def test_speaker_part_needs_cut2reco_and_rttm(tmp_path):
    from espnet_tagspeech.bin.pretrain import pretrain

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


def test_pretrain_config_errors(tmp_path):
    from espnet_tagspeech.bin.pretrain import pretrain

    with pytest.raises(ValueError, match="unknown keys"):
        pretrain({"model_config": "x", "stepz": 3}, "a", "b", None, str(tmp_path))
    with pytest.raises(ValueError, match="nothing to do"):
        pretrain({"model_config": "x"}, "a", "b", None, str(tmp_path))
    with pytest.raises(ValueError, match="semantic: expected a mapping"):
        pretrain({"model_config": "x", "semantic": {"stepz": 3}}, "a", "b", None, str(tmp_path))


def test_parts_frozen_for_the_main_training_are_pretrained(tmp_path):
    """The paper's recipe: encoders frozen in the model config get pre-trained all the same."""
    from espnet_tagspeech.bin.pretrain import pretrain

    _, cfg = setup_tiny(str(tmp_path), num_cuts=2)  # the tiny ECAPA is frozen
    data = tmp_path / "data"
    rttm = _write_speaker_labels(data, 2)
    result = pretrain({"model_config": cfg, "batch_size": 2, "speaker": {"steps": 5, "lr": 0.01}},
                      str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm))
    assert result["speaker_last_loss"] < result["speaker_first_loss"]
    state = torch.load(tmp_path / "o" / "init.pth", weights_only=False)
    assert any(k.startswith("speaker_encoder.encoder.") for k in state)


def test_learning_rate_schedule_warms_up_then_decays():
    from espnet_tagspeech.bin.pretrain import _lr_factor

    steps, warmup = 100, 10
    flat = [_lr_factor(s, warmup, steps, decay=False) for s in range(steps)]
    cosine = [_lr_factor(s, warmup, steps, decay=True) for s in range(steps)]
    assert flat[0] == pytest.approx(0.1) and flat[9] == 1.0 and flat[-1] == 1.0
    assert cosine[:10] == flat[:10] and cosine[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(cosine[10:], cosine[11:]))  # never rises after warm-up
    assert cosine[-1] == pytest.approx(0.05)


def _write_word_times(data: Path, num_cuts: int) -> Path:
    """A CTM (channel = speaker) spreading each span's words evenly over it."""
    ctm = data / "words.ctm"
    with open(ctm, "w") as f:
        for k, (_, spans) in enumerate(_CUTS[:num_cuts]):
            for _, _, s, e, words, kind, freq in spans:
                ws = words.split()
                step = (e - s) / len(ws)
                for i, w in enumerate(ws):
                    f.write(f"reco{k + 1} {kind}{int(freq)} {s + i * step:.3f} {step * 0.9:.3f} {w}\n")
    return ctm


def test_time_ordered_ctc_targets_from_rttm_and_ctm(tmp_path):
    from espnet_tagspeech.bin.pretrain import cut_tsot_elements
    from espnet_tagspeech.data.errors import DataFormatError
    from espnet_tagspeech.tsot import tsot_text

    setup_tiny(str(tmp_path), num_cuts=4)
    data = tmp_path / "data"
    rttm, ctm = _write_speaker_labels(data, 4), _write_word_times(data, 4)
    els = cut_tsot_elements(data, str(rttm), str(ctm), channels=2)
    assert tsot_text(els["cut1"]) == "HELLO THERE\n"
    # OKAY (0.0-0.7) and YES PLEASE (0.5-1.5) overlap: two channels, words by start time
    assert tsot_text(els["cut2"]) == "OKAY\n<cc> YES PLEASE\n"
    assert tsot_text(els["cut4"]) == "HI\nBYE\n"  # no overlap: one channel
    with open(ctm, "a") as f:
        f.write("reco1 tone440 1.100 0.050 STRAY\n")
    with pytest.raises(DataFormatError, match=r"words.ctm:10: word 'STRAY'.*no turn of tone440"):
        cut_tsot_elements(data, str(rttm), str(ctm), channels=2)


@pytest.mark.parametrize("batching", [{"batch_size": 4}, {"batch_sec": 8.0}], ids=["count", "seconds"])
def test_time_ordered_pretraining_learns_and_needs_word_times(tmp_path, batching):
    from espnet_tagspeech.bin.pretrain import pretrain

    _, cfg = setup_tiny(str(tmp_path), num_cuts=4,
                        overrides={"model_conf": {"ctc_order": "time", "ctc_embed": True}})
    data = tmp_path / "data"
    rttm, ctm = _write_speaker_labels(data, 4), _write_word_times(data, 4)
    conf = {"model_config": cfg, **batching, "semantic": {"steps": 60, "lr": 0.005, "warmup": 1}}
    with pytest.raises(ValueError, match="needs --train_ctm"):
        pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                 valid_rttm=str(rttm))
    result = pretrain(conf, str(data), str(data), None, str(tmp_path / "o"), train_rttm=str(rttm),
                      valid_rttm=str(rttm), train_ctm=str(ctm), valid_ctm=str(ctm))
    assert result["semantic_last_loss"] < 0.5 * result["semantic_first_loss"]
    assert 0.0 <= result["semantic_valid_ter"] < 1.0
    assert (tmp_path / "o" / "init.pth").is_file()


def test_duration_batches_cover_every_cut_once_within_the_budget():
    import numpy as np

    from espnet_tagspeech.bin.pretrain import duration_batches

    rng = np.random.default_rng(0)
    durations = list(rng.uniform(0.5, 12.0, 500)) + [30.0]
    epochs = [duration_batches(durations, 40.0, rng) for _ in range(2)]
    for batches in epochs:
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(durations)))
        for b in batches:
            padded = len(b) * max(durations[i] for i in b)
            assert padded <= 40.0 or len(b) == 1
        # similar lengths in a batch: the padding is a small part of the budget
        real = sum(durations)
        padded = sum(len(b) * max(durations[i] for i in b) for b in batches)
        assert padded < 1.15 * real
    # the longest cut is a batch of its own; the two epochs are batched differently
    assert any(b.tolist() == [500] for b in epochs[0])
    assert [b.tolist() for b in epochs[0]] != [b.tolist() for b in epochs[1]]
    with pytest.raises(ValueError, match="batch_sec"):
        duration_batches(durations, 0.0, rng)
