"""bench/bench_ablations.py: variant configs, RESULTS.md rows, valid accuracy, table."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bench_ablations", Path(__file__).resolve().parents[2] / "bench" / "bench_ablations.py")
ab = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ab)

BASE = {
    "model_conf": {"frame_clock": True, "speaker_on_words": False, "ctc_embed": True},
    "llm_conf": {"freeze": False, "config": {"hidden_size": 8}},
    "semantic_encoder_conf": {"freeze": True, "config": {"hidden_size": 4}},
    "max_epoch": 16, "num_iters_per_epoch": 150,
}


def test_each_variant_changes_only_its_part_and_sets_the_budget():
    paper = ab.variant_config(BASE, "paper", 800)
    assert (paper["max_epoch"], paper["num_iters_per_epoch"]) == (8, 100)
    assert paper["model_conf"] == BASE["model_conf"] and paper["llm_conf"] == BASE["llm_conf"]
    no_anchor = ab.variant_config(BASE, "no_anchors", 800)
    assert no_anchor["model_conf"] == {**BASE["model_conf"], "time_anchors": False, "frame_clock": False}
    assert ab.variant_config(BASE, "no_speaker", 800)["model_conf"]["speaker_stream"] is False
    lora = ab.variant_config(BASE, "lora", 800)["llm_conf"]
    assert lora["freeze"] is True and lora["lora"]["r"] > 0 and lora["config"] == {"hidden_size": 8}
    allt = ab.variant_config(BASE, "all_trained", 50)
    assert allt["semantic_encoder_conf"] == {"freeze": False, "config": {"hidden_size": 4}}
    assert (allt["max_epoch"], allt["num_iters_per_epoch"]) == (1, 50)
    assert BASE["model_conf"]["frame_clock"] is True  # the base config is not changed
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        ab.variant_config(BASE, "nope", 800)
    with pytest.raises(ValueError, match="not a multiple"):
        ab.variant_config(BASE, "paper", 850)


def test_results_row_valid_acc_and_table(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text(
        "| dataset | system | DER c=0.25 | cpWER | WER | ovl WER | spk-count acc |\n"
        "|:--|:--|--:|--:|--:|--:|--:|\n"
        "| test | cascade (CTC + clustering) | 9.0 | 20.0 | 15.0 | 50.0 | 90.0 |\n"
        "| test | TagSpeech (LLM) | 30.5 | 60.2 | 45.1 | 70.3 | 12.5 |\n")
    row = ab.result_row(md)
    assert row["DER c=0.25"] == "30.5" and row["cpWER"] == "60.2"
    assert ab.result_row(md, system="other") is None and ab.result_row(tmp_path / "none.md") is None
    log = tmp_path / "train.log"
    log.write_text("1epoch results: [train] loss=3.2, acc=0.4 [valid] loss=2.9, acc=0.512, time=...\n"
                   "2epoch results: [train] loss=2.2, acc=0.6 [valid] loss=2.1, acc=0.634, time=...\n")
    assert ab.last_valid_acc(log) == pytest.approx(0.634)
    table = ab.format_table([{"variant": "paper", "updates": 800, "train_min": 5.04, "valid_acc": 0.634,
                              "scores": row}])
    assert "| paper | 800 | 5.0 | 0.634 | 30.5 | 60.2 | 45.1 | 70.3 | 12.5 |" in table
