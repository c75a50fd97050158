"""Shared parts of utils/run.pl and utils/slurm.pl (standard library only).

Both take Kaldi's job-runner command line::

    <runner> [--opt value ...] [JOB=1:N] log/name.JOB.log command args...

``JOB`` may be any identifier (``TASK=2:5`` works too) and ``JOB=3`` means the
single job 3.  Every occurrence of the identifier in the log path and in the
command is replaced by the job number.  The arguments are joined into one
bash command line as Kaldi does: an argument without whitespace is taken as
is (so ``\\|`` and ``">"`` act as shell syntax), one with whitespace is quoted.

Each job runs under a bash wrapper that writes its log: a header (the
command, the start time, the host), the command's stdout and stderr, then a
footer with the exit code and elapsed seconds.
"""

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

_JOB_SPEC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")


class UsageError(Exception):
    """Bad command line; the message is printed with the usage text."""


@dataclass
class JobSpec:
    """A parsed runner command line."""

    options: Dict[str, str] = field(default_factory=dict)
    var: Optional[str] = None
    first: int = 1
    last: int = 1
    log: str = ""
    args: List[str] = field(default_factory=list)

    @property
    def ids(self) -> List[int]:
        """The job numbers."""
        return list(range(self.first, self.last + 1))

    def log_for(self, job: int) -> str:
        """The log path of one job."""
        return self.log.replace(self.var, str(job)) if self.var else self.log

    def command_for(self, job: int) -> str:
        """The bash command line of one job."""
        cmd = join_command(self.args)
        return cmd.replace(self.var, str(job)) if self.var else cmd


def parse_command_line(argv: Sequence[str]) -> JobSpec:
    """Parse ``[--opt value ...] [VAR=a:b] log command...``.

    Options are returned with dashes turned into underscores (``--num-threads
    4`` -> ``{"num_threads": "4"}``); ``--opt=value`` works too.

    Raises:
        UsageError: on a malformed command line.
    """
    spec = JobSpec()
    args = list(argv)
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if "=" in opt:
            name, value = opt[2:].split("=", 1)
        else:
            name = opt[2:]
            if not args:
                raise UsageError(f"option {opt} needs a value")
            value = args.pop(0)
        spec.options[name.replace("-", "_")] = value
    if args:
        m = _JOB_SPEC.match(args[0])
        if m:
            args.pop(0)
            spec.var = m.group(1)
            spec.first = int(m.group(2))
            spec.last = int(m.group(3) if m.group(3) is not None else m.group(2))
            if spec.last < spec.first:
                raise UsageError(f"empty job range {m.group(0)}")
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", args[0]) and ":" in args[0]:
            raise UsageError(f"bad job range {args[0]!r} (expected e.g. JOB=1:4)")
    if len(args) < 2:
        raise UsageError("need a log file and a command")
    spec.log = args[0]
    spec.args = args[1:]
    if spec.var and spec.last > spec.first and spec.var not in spec.log:
        raise UsageError(f"with several jobs the log path must contain {spec.var}: {spec.log}")
    return spec


def join_command(args: Sequence[str]) -> str:
    """Join arguments into one shell command line, quoting those with whitespace."""
    return " ".join(a if a and not any(c.isspace() for c in a) else shlex.quote(a) for a in args)


def wrapper_script(command: str, log: str, status_file: Optional[str] = None) -> str:
    """Bash text that runs ``command`` with its output, header and footer in ``log``."""
    q = shlex.quote
    date = "date '+%Y-%m-%d %H:%M:%S %z'"
    lines = [
        f"log={q(log)}",
        'mkdir -p -- "$(dirname -- "$log")"',
        "{",
        f"  printf '# %s\\n' {q(command)}",
        f'  echo "# started at $({date}) on $(hostname)"',
        '} > "$log"',
        "t0=$(date +%s%N)",
        f'bash -o pipefail -c {q(command)} >> "$log" 2>&1',
        "rc=$?",
        "ms=$(( ($(date +%s%N) - t0) / 1000000 ))",
        f"printf '# ended at %s with exit code %d, elapsed %d.%03d s\\n' \"$({date})\" "
        '"$rc" $((ms / 1000)) $((ms % 1000)) >> "$log"',
    ]
    if status_file:
        lines.append(f'echo "$rc" > {q(status_file)}')
    lines.append('exit "$rc"')
    return "\n".join(lines) + "\n"


def positive_int(options: Dict[str, str], name: str, default: int) -> int:
    """Read a positive integer option."""
    value = options.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    return int(value)


def report_failures(prog: str, spec: JobSpec, failed: Dict[int, str]) -> int:
    """Print which jobs failed and where their logs are; return the exit status."""
    if not failed:
        return 0
    total = len(spec.ids)
    print(f"{prog}: {len(failed)} of {total} job(s) failed:", file=sys.stderr)
    for job in sorted(failed):
        print(f"{prog}:   job {job}: {failed[job]}; log: {spec.log_for(job)}", file=sys.stderr)
    return 1


def usage(prog: str, extra: str = "") -> str:
    """The usage text."""
    return (
        f"Usage: {prog} [options] [JOB=1:N] <log-file> <command> [<args>...]\n"
        f"  e.g. {prog} JOB=1:4 exp/log/step.JOB.log my-program --part JOB\n"
        "  Every JOB in the log path and the command becomes the job number.\n"
        "Options:\n"
        "  --max-jobs-run N   run at most N jobs at the same time\n"
        "  --gpu N, --mem X, --num-threads N, --time T   resources" + extra
    )


def ensure_dir(path: str) -> None:
    """Create the parent directory of ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
