"""Tests of utils/slurm.pl against a fake `sbatch` that runs the array tasks locally."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

SLURM_PL = Path(__file__).resolve().parents[2] / "utils" / "slurm.pl"

# A stand-in for sbatch: records its arguments, runs every array task in turn
# (skipping the ids in $FAKE_SBATCH_SKIP, as if they were cancelled), and
# exits with the highest task exit code, like `sbatch --wait` does.
FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_SBATCH_LOG"
[ -z "${FAKE_SBATCH_FAIL:-}" ] || { echo "sbatch: error: invalid partition" >&2; exit 1; }
array=""; out=/dev/null; script=""; wait=0
for a in "$@"; do
    case "$a" in
        --array=*) array=${a#--array=} ;;
        --output=*) out=${a#--output=} ;;
        --wait) wait=1 ;;
        -*) ;;
        *) script=$a ;;
    esac
done
[ "$wait" = 1 ] || { echo "fake sbatch only supports --wait" >&2; exit 2; }
range=${array%%\%*}; first=${range%-*}; last=${range#*-}
maxrc=0
for ((i = first; i <= last; i++)); do
    case " ${FAKE_SBATCH_SKIP:-} " in *" $i "*) maxrc=1; continue ;; esac
    SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1 || { rc=$?; [ "$rc" -gt "$maxrc" ] && maxrc=$rc; }
done
echo "Submitted batch job 4242"
exit "$maxrc"
"""


@pytest.fixture
def slurm(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "sbatch").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    calls = tmp_path / "sbatch_calls"

    def run(*args, **env):
        full = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", FAKE_SBATCH_LOG=str(calls))
        full.update(env)
        proc = subprocess.run(
            [str(SLURM_PL), *map(str, args)], capture_output=True, text=True, cwd=work, env=full, timeout=60
        )
        proc.calls = [shlex.split(c) for c in calls.read_text().splitlines()] if calls.exists() else []
        return proc

    run.work = work
    return run


def test_jobs_run_and_write_logs(slurm):
    proc = slurm("--mem", "2G", "--num-threads", "2", "JOB=1:3", "log/t.JOB.log", "echo", "job", "JOB")
    assert proc.returncode == 0, proc.stderr
    for job in (1, 2, 3):
        lines = (slurm.work / "log" / f"t.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {job}" and lines[2] == f"job {job}"
        assert "with exit code 0" in lines[3]
    (call,) = proc.calls
    # built-in config: --mem -> --mem-per-cpu, --num-threads -> --cpus-per-task, gpu=0 -> nothing
    assert call[:2] == ["--export=PATH", "--ntasks-per-node=1"]
    assert "--mem-per-cpu 2G" in " ".join(call) and "--cpus-per-task 2" in " ".join(call)
    assert "--array=1-3" in call and "--wait" in call and "-p" not in call


def test_failed_and_cancelled_jobs_are_reported(slurm):
    proc = slurm("JOB=1:4", "log/f.JOB.log", "test", "JOB", "-ne", "3", FAKE_SBATCH_SKIP="2")
    assert proc.returncode == 1
    assert "2 of 4 job(s) failed" in proc.stderr
    assert "job 3: exit code 1; log: log/f.3.log" in proc.stderr
    assert "job 2: no exit code (cancelled or killed?" in proc.stderr
    assert "job 1:" not in proc.stderr and "job 4:" not in proc.stderr


def test_config_rules_defaults_and_throttle(slurm):
    conf = slurm.work / "my.conf"
    conf.write_text(
        "# test cluster\n"
        "command sbatch -p cpu --export=ALL\n"
        "option mem=* --mem=$0\n"
        "option gpu=* -p gpu --gres=gpu:$0   # gpu partition\n"
        "option gpu=0\n"
        "option time=* --time=$0\n"
        "default gpu=0\n"
        "default time=1:00:00\n"
    )
    proc = slurm("--config", conf, "--gpu", "2", "--max-jobs-run", "2", "JOB=1:3", "log/g.JOB.log", "true")
    assert proc.returncode == 0, proc.stderr
    call = proc.calls[-1]
    assert call[:3] == ["-p", "cpu", "--export=ALL"]
    assert "--gres=gpu:2" in call and "--time=1:00:00" in call and "--array=1-3%2" in call
    proc = slurm("--config", conf, "--num-threads", "4", "log/x.log", "true")
    assert proc.returncode == 1 and "--num-threads has no rule in" in proc.stderr
    proc = slurm("--config", slurm.work / "nope.conf", "log/x.log", "true")
    assert proc.returncode == 1 and "nope.conf not found" in proc.stderr
    conf.write_text("option mem=* --mem=$0\n")
    proc = slurm("--config", conf, "log/x.log", "true")
    assert proc.returncode == 1 and "no 'command' line" in proc.stderr


def test_default_conf_file_in_working_dir(slurm):
    (slurm.work / "conf").mkdir()
    (slurm.work / "conf" / "slurm.conf").write_text("command sbatch --qos=low\noption mem=* --mem=$0\n")
    proc = slurm("--mem", "1G", "log/one.log", "echo", "hi")
    assert proc.returncode == 0, proc.stderr
    assert proc.calls[-1][:2] == ["--qos=low", "--mem=1G"]
    assert (slurm.work / "log" / "one.log").read_text().splitlines()[2] == "hi"


def test_sbatch_failure_is_reported(slurm):
    proc = slurm("JOB=1:2", "log/z.JOB.log", "true", FAKE_SBATCH_FAIL="1")
    assert proc.returncode == 1
    assert "sbatch failed with exit code 1" in proc.stderr
    assert "invalid partition" in proc.stderr
