#!/usr/bin/env python3
"""Run a command as N local jobs, Kaldi's run.pl interface (written in Python).

    utils/run.pl [--max-jobs-run N] [JOB=1:N] log/name.JOB.log command args...

At most --max-jobs-run jobs (default: the number of CPUs) run at a time.
--gpu, --mem, --num-threads, --time and --config are accepted and ignored, so
that the same $cmd works with slurm.pl.  Exits 1 if any job fails, listing the
failed jobs and their logs.
"""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep utils/ (often symlinked into recipes) clean
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from queue_lib import (  # noqa: E402
    UsageError,
    ensure_dir,
    parse_command_line,
    positive_int,
    report_failures,
    usage,
    wrapper_script,
)

PROG = "run.pl"
IGNORED = {"gpu", "mem", "num_threads", "time", "config", "max_jobs_run", "sync"}


class _Stop(Exception):
    pass


def _on_signal(signum, frame):  # noqa: ARG001
    raise _Stop(signum)


def run(spec, max_jobs):
    """Run every job; return {job: reason} of the failed ones."""
    pending = list(spec.ids)
    running = {}
    failed = {}
    try:
        while pending or running:
            while pending and len(running) < max_jobs:
                job = pending.pop(0)
                log = spec.log_for(job)
                ensure_dir(log)
                script = wrapper_script(spec.command_for(job), log)
                running[job] = subprocess.Popen(["bash", "-c", script], start_new_session=True)
            done = [job for job, p in running.items() if p.poll() is not None]
            for job in done:
                rc = running.pop(job).returncode
                if rc != 0:
                    failed[job] = f"exit code {rc}" if rc > 0 else f"killed by signal {-rc}"
            if not done:
                time.sleep(0.02)
    except (_Stop, KeyboardInterrupt):
        for p in running.values():
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in running.values():
            p.wait()
        print(f"{PROG}: interrupted; stopped {len(running)} running job(s)", file=sys.stderr)
        sys.exit(130)
    return failed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(usage(PROG))
        return 0
    try:
        spec = parse_command_line(argv)
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        max_jobs = positive_int(spec.options, "max_jobs_run", cpus or 1)
    except UsageError as e:
        print(f"{PROG}: {e}\n{usage(PROG)}", file=sys.stderr)
        return 1
    for name in spec.options:
        if name not in IGNORED:
            print(f"{PROG}: ignoring option --{name.replace('_', '-')}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _on_signal)
    failed = run(spec, max_jobs)
    return report_failures(PROG, spec, failed)


if __name__ == "__main__":
    sys.exit(main())
