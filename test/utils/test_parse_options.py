"""Tests of utils/parse_options.sh, sourced by a small script as recipes do."""

import subprocess
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "utils"

SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
nj=4
use_gpu=false
feat_type=fbank
empty_default=
help_message="Usage: demo.sh [options] <in> <out>"
. {utils}/parse_options.sh
printf 'nj=%s|use_gpu=%s|feat_type=%s|empty_default=%s\\n' "$nj" "$use_gpu" "$feat_type" "$empty_default"
printf 'n=%d\\n' $#
for a in "$@"; do printf 'arg=[%s]\\n' "$a"; done
"""


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT.format(utils=UTILS))
    path.chmod(0o755)

    def run(*args, cwd=tmp_path):
        return subprocess.run([str(path), *args], capture_output=True, text=True, cwd=cwd)

    return run


def values(out):
    first = out.splitlines()[0]
    return dict(kv.split("=", 1) for kv in first.split("|"))


def test_defaults_without_options(demo):
    proc = demo("a", "b")
    assert proc.returncode == 0, proc.stderr
    assert values(proc.stdout) == {"nj": "4", "use_gpu": "false", "feat_type": "fbank", "empty_default": ""}
    assert proc.stdout.splitlines()[1:] == ["n=2", "arg=[a]", "arg=[b]"]


def test_space_and_equals_forms_dash_and_underscore(demo):
    proc = demo("--nj", "8", "--use-gpu", "true", "--feat_type=mfcc", "--empty-default=x y", "in dir", "out")
    assert proc.returncode == 0, proc.stderr
    assert values(proc.stdout)["nj"] == "8"
    assert values(proc.stdout)["use_gpu"] == "true"
    assert values(proc.stdout)["feat_type"] == "mfcc"
    assert values(proc.stdout)["empty_default"] == "x y"
    assert proc.stdout.splitlines()[1:] == ["n=2", "arg=[in dir]", "arg=[out]"]


def test_option_value_may_look_like_an_option_or_be_empty(demo):
    proc = demo("--feat-type", "--weird", "--nj=", "pos")
    assert proc.returncode == 0, proc.stderr
    assert values(proc.stdout)["feat_type"] == "--weird"
    assert values(proc.stdout)["nj"] == ""
    assert proc.stdout.splitlines()[1:] == ["n=1", "arg=[pos]"]


def test_positional_args_after_double_dash_are_kept(demo):
    proc = demo("--nj", "2", "--", "--not-an-option", "x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ["n=2", "arg=[--not-an-option]", "arg=[x]"]
    proc = demo("first", "--nj", "3")  # parsing stops at the first positional argument
    assert values(proc.stdout)["nj"] == "4"
    assert proc.stdout.splitlines()[1:] == ["n=3", "arg=[first]", "arg=[--nj]", "arg=[3]"]


@pytest.mark.parametrize("args", [["--bogus", "1"], ["--bogus=1"], ["--no-such-thing", "x", "a"]])
def test_unknown_option_is_an_error_naming_it(demo, args):
    proc = demo(*args)
    assert proc.returncode == 1
    assert f"unknown option '{args[0].split('=')[0]}'" in proc.stderr
    assert "Usage: demo.sh" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_boolean_options_only_take_true_or_false(demo, value):
    proc = demo("--use-gpu", value)
    assert proc.returncode == 1
    assert "takes true or false" in proc.stderr


def test_option_without_value_and_invalid_names(demo):
    proc = demo("--nj")
    assert proc.returncode == 1 and "--nj needs a value" in proc.stderr
    proc = demo("--n.j", "3")
    assert proc.returncode == 1 and "invalid option '--n.j'" in proc.stderr


def test_help_prints_help_message(demo):
    for flag in ("--help", "-h"):
        proc = demo(flag)
        assert proc.returncode == 0
        assert proc.stdout.strip() == "Usage: demo.sh [options] <in> <out>"


def test_config_is_sourced_first_and_command_line_wins(demo, tmp_path):
    conf = tmp_path / "my.conf"
    conf.write_text("nj=99\nfeat_type=from_conf\n")
    proc = demo("--nj", "3", "--config", str(conf), "p")
    assert proc.returncode == 0, proc.stderr
    assert values(proc.stdout)["nj"] == "3"
    assert values(proc.stdout)["feat_type"] == "from_conf"
    proc = demo(f"--config={conf}")
    assert values(proc.stdout)["nj"] == "99"
    proc = demo("--config", str(tmp_path / "missing.conf"))
    assert proc.returncode == 1 and "missing.conf' not found" in proc.stderr


def test_no_helper_variables_leak(tmp_path):
    script = tmp_path / "leak.sh"
    script.write_text(f"#!/usr/bin/env bash\nset -u\nnj=1\n. {UTILS}/parse_options.sh\nset | grep -c '^__po_' || true\n")
    script.chmod(0o755)
    proc = subprocess.run([str(script), "--nj", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
