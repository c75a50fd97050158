"""The mini recipe's configs: the CI-sized model is the test suite's tiny model, not a drifting copy."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "mini_meeting" / "tagspeech1"

# What the CI-sized recipe run changes of the suite's tiny model, and why (said in its yaml):
# a semantic stream frozen after stage 5, a t-SOT CTC head, fewer updates.
RECIPE_ONLY = {
    ("semantic_encoder_conf", "freeze"),
    ("model_conf", "ctc_embed"),
    ("model_conf", "ctc_order"),
    ("model_conf", "ctc_channels"),
    ("max_epoch",),
    ("num_iters_per_epoch",),
}


def _flatten(conf, prefix=()):
    for key, value in conf.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def test_recipe_tiny_config_differs_from_the_suite_tiny_model_only_where_declared():
    suite = dict(_flatten(yaml.safe_load((REPO / "conf" / "tuning" / "train_tagspeech_tiny.yaml").read_text())))
    recipe = dict(_flatten(yaml.safe_load((RECIPE / "conf" / "train_tiny.yaml").read_text())))
    differ = {k for k in set(suite) | set(recipe) if suite.get(k, "<absent>") != recipe.get(k, "<absent>")}
    assert differ == RECIPE_ONLY, f"undeclared differences: {sorted(differ ^ RECIPE_ONLY)}"
