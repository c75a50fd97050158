"""Tests of utils/run.pl (Kaldi's local job runner interface)."""

import re
import subprocess
from pathlib import Path

import pytest

RUN_PL = Path(__file__).resolve().parents[2] / "utils" / "run.pl"


def run_pl(*args, cwd):
    return subprocess.run([str(RUN_PL), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_n_jobs_write_logs_with_header_and_footer(tmp_path):
    proc = run_pl("JOB=1:4", "log/t.JOB.log", "echo", "job", "JOB", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for job in range(1, 5):
        lines = (tmp_path / "log" / f"t.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {job}"
        assert re.match(r"# started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .* on \S+", lines[1])
        assert lines[2] == f"job {job}"
        assert re.match(r"# ended at .* with exit code 0, elapsed \d+\.\d{3} s$", lines[3])
        assert len(lines) == 4


def test_failed_job_makes_run_pl_fail_and_is_named(tmp_path):
    proc = run_pl("JOB=1:3", "log/f.JOB.log", "echo", "out", "JOB", ";", "test", "JOB", "-ne", "2", cwd=tmp_path)
    assert proc.returncode == 1
    assert "1 of 3 job(s) failed" in proc.stderr
    assert "job 2: exit code 1; log: log/f.2.log" in proc.stderr
    assert "job 1:" not in proc.stderr and "job 3:" not in proc.stderr
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# ended at")
    assert "with exit code 1," in (tmp_path / "log/f.2.log").read_text()
    assert "with exit code 0," in (tmp_path / "log/f.3.log").read_text()


def test_job_substitution_in_args_and_custom_variable(tmp_path):
    proc = run_pl("TASK=2:3", "log/x.TASK.log", "touch", "out.TASK.txt", "part=TASK", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("out.*")) == ["out.2.txt", "out.3.txt"]
    assert (tmp_path / "part=2").exists()  # the substitution happens in every argument
    assert not (tmp_path / "log/x.1.log").exists()


def test_single_job_form_and_ignored_options(tmp_path):
    proc = run_pl("--gpu", "1", "--mem", "4G", "--num-threads", "2", "log/one.log", "echo", "hello", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "log/one.log").read_text().splitlines()[2] == "hello"
    proc = run_pl("JOB=5", "log/five.JOB.log", "echo", "JOB", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "log/five.5.log").read_text().splitlines()[2] == "5"


def test_quoting_pipes_and_pipefail(tmp_path):
    # an argument with whitespace stays one argument; one without is shell syntax
    assert run_pl("log/q.log", "echo", "a  b", cwd=tmp_path).returncode == 0
    assert (tmp_path / "log/q.log").read_text().splitlines()[2] == "a  b"
    assert run_pl("log/p.log", "echo", "abc", "|", "tr", "a-c", "A-C", cwd=tmp_path).returncode == 0
    assert (tmp_path / "log/p.log").read_text().splitlines()[2] == "ABC"
    proc = run_pl("log/pf.log", "false", "|", "cat", cwd=tmp_path)
    assert proc.returncode == 1 and "exit code 1" in proc.stderr
    proc = run_pl("log/stderr.log", "echo", "to-stderr", ">&2", ";", "exit", "7", cwd=tmp_path)
    assert proc.returncode == 1 and "job 1: exit code 7" in proc.stderr
    assert "to-stderr" in (tmp_path / "log/stderr.log").read_text()


def test_max_jobs_run_one_runs_jobs_one_after_another(tmp_path):
    cmd = ["echo", "start", "JOB", ">>", "trace", ";", "sleep", "0.1", ";", "echo", "end", "JOB", ">>", "trace"]
    proc = run_pl("--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", *cmd, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace = (tmp_path / "trace").read_text().split("\n")[:-1]
    assert trace == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]


def test_jobs_run_in_parallel_up_to_the_limit(tmp_path):
    # Job 1 waits for a file that job 2 creates: it can only succeed if both run at once.
    (tmp_path / "job.sh").write_text(
        'if [ "$1" = 2 ]; then touch flag; exit 0; fi\n'
        "for i in $(seq 100); do [ -f flag ] && exit 0; sleep 0.1; done; exit 1\n"
    )
    proc = run_pl("--max-jobs-run", "2", "JOB=1:2", "log/p.JOB.log", "bash", "job.sh", "JOB", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stderr, (tmp_path / "log/p.1.log").read_text())


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "need a log file and a command"),
        (["JOB=1:3", "log/x.log", "echo"], "must contain JOB"),
        (["JOB=3:1", "log/x.JOB.log", "echo"], "empty job range"),
        (["--max-jobs-run", "0", "log/x.log", "echo"], "positive integer"),
        (["--max-jobs-run"], "needs a value"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    proc = run_pl(*args, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr and "Usage: run.pl" in proc.stderr
