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


def test_recipe_links_keep_the_name_of_the_shared_config():
    """A recipe config linked from the root conf/ is found under the root file's own name."""
    links = [p for p in sorted((RECIPE / "conf").iterdir()) if p.is_symlink()]
    assert links
    for link in links:
        assert not Path(link.readlink()).is_absolute(), f"{link}: absolute link"
        assert link.resolve().is_file(), f"{link}: dangling link"
        assert link.name == link.resolve().name, f"{link.name} -> {link.resolve().name}: another name"


def test_run_sh_names_existing_configs_for_each_size():
    import re

    text = (RECIPE / "run.sh").read_text()
    named = set(re.findall(r"conf/[\w.]+\.yaml", text))
    assert {"conf/train_tiny.yaml", "conf/train_tagspeech_mini.yaml", "conf/decode_mini.yaml",
            "conf/decode_tagspeech_ctc_text.yaml"} <= named
    for rel in named:
        assert (RECIPE / rel).is_file(), f"run.sh names {rel}, which does not exist"


def test_the_segment_configs_read_and_stay_within_the_training_cuts():
    """Each size's stage-3 segmentation yaml is a valid SegmentConfig whose windows are no longer
    than the training cuts (run.sh's --max_cut_dur)."""
    import re

    from espnet_tagspeech.segment.config import SegmentConfig

    text = (RECIPE / "run.sh").read_text()
    named = sorted(set(re.findall(r"conf/segment_\w+\.yaml", text)))
    assert named == ["conf/segment_mini.yaml", "conf/segment_tiny.yaml"]
    max_cut = float(re.search(r"--max_cut_dur (\d+)", text).group(1))
    for rel in named:
        conf = SegmentConfig.from_yaml(RECIPE / rel)
        assert conf.segmenter == "silero" and conf.max_window <= max_cut, rel


def test_run_sh_prints_the_results_of_the_experiment_it_ran(tmp_path):
    """After the stages, run.sh shows exp/tagspeech_<tag>/RESULTS.md (or --exp_name's), not the default's."""
    import subprocess

    (tmp_path / "run.sh").symlink_to(RECIPE / "run.sh")
    for name, text in (("tagspeech_mini", "default run"), ("tagspeech_aam", "aam run"), ("other", "named run")):
        (tmp_path / "exp" / name).mkdir(parents=True)
        (tmp_path / "exp" / name / "RESULTS.md").write_text(text + "\n")

    def shown(*options):  # no stage in range: run.sh only prints
        out = subprocess.run(["bash", "run.sh", "--stage", "12", "--stop_stage", "12", *options],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "default run" in shown()
    assert "exp/tagspeech_aam/RESULTS.md" in shown("--tag", "aam") and "aam run" in shown("--tag", "aam")
    assert "named run" in shown("--tag", "aam", "--exp_name", "other")
