#!/usr/bin/env python3
"""Run a command as N Slurm jobs, Kaldi's slurm.pl interface (written in Python).

    utils/slurm.pl [--config conf/slurm.conf] [--max-jobs-run N] [--mem 4G]
        [--gpu 1] [--num-threads 2] [--time 4:00:00] [JOB=1:N] log/name.JOB.log command args...

The jobs are submitted as one job array with `sbatch --wait`, which returns
when every task has ended; each task writes its log (header, output, footer)
and its exit code to <logdir>/q/.  Exits 1 if any job failed or left no exit
code (cancelled, out of memory, time limit), naming the jobs and their logs.

Config file (default conf/slurm.conf if it exists, else the built-in one below);
one rule per line, `#` starts a comment, `$0` is the option's value:
    command sbatch --export=PATH          # the submit command and fixed options
    option mem=* --mem-per-cpu $0          # --mem X  ->  --mem-per-cpu X
    option mem=0                           # --mem 0  ->  nothing
    option gpu=* -p gpu --gres=gpu:$0
    option gpu=0
    default gpu=0                          # value used when the option is not given
An option with no rule for it is an error.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep utils/ (often symlinked into recipes) clean
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from queue_lib import (  # noqa: E402
    UsageError,
    parse_command_line,
    positive_int,
    report_failures,
    usage,
    wrapper_script,
)

PROG = "slurm.pl"
DEFAULT_CONFIG = """
command sbatch --export=PATH --ntasks-per-node=1
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
option gpu=* -p gpu --gres=gpu:$0
option gpu=0
default gpu=0
"""


def parse_config(text, name):
    """Return (command words, {opt: {value or '*': [sbatch args]}}, {opt: default})."""
    command, rules, defaults = None, {}, {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        kind = words[0]
        if kind == "command" and len(words) > 1:
            command = words[1:]
        elif kind in ("option", "default") and len(words) > 1 and "=" in words[1]:
            opt, value = words[1].split("=", 1)
            opt = opt.replace("-", "_")
            if kind == "option":
                rules.setdefault(opt, {})[value] = words[2:]
            else:
                defaults[opt] = value
        else:
            raise UsageError(f"{name}:{n}: cannot parse config line: {raw.strip()}")
    if command is None:
        raise UsageError(f"{name}: no 'command' line")
    return command, rules, defaults


def sbatch_options(options, rules, defaults, config_name):
    """Translate runner options into sbatch arguments using the config rules."""
    out = []
    values = dict(defaults)
    values.update({k: v for k, v in options.items() if k not in ("config", "max_jobs_run")})
    for opt, value in values.items():
        if opt not in rules:
            raise UsageError(f"option --{opt.replace('_', '-')} has no rule in {config_name}")
        if value in rules[opt]:
            out += rules[opt][value]
        elif "*" in rules[opt]:
            out += [w.replace("$0", value) for w in rules[opt]["*"]]
        else:
            raise UsageError(f"--{opt.replace('_', '-')} {value}: no matching rule in {config_name}")
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(usage(PROG, "\n  --config FILE      sbatch option rules (default conf/slurm.conf)"))
        return 0
    try:
        spec = parse_command_line(argv)
        config = spec.options.get("config")
        if config is None and Path("conf/slurm.conf").is_file():
            config = "conf/slurm.conf"
        if config is not None and not Path(config).is_file():
            raise UsageError(f"config file {config} not found")
        text = Path(config).read_text() if config else DEFAULT_CONFIG
        command, rules, defaults = parse_config(text, config or "built-in config")
        extra = sbatch_options(spec.options, rules, defaults, config or "built-in config")
        throttle = positive_int(spec.options, "max_jobs_run", 0) if "max_jobs_run" in spec.options else 0
    except UsageError as e:
        print(f"{PROG}: {e}\n{usage(PROG)}", file=sys.stderr)
        return 1

    first_log = Path(spec.log_for(spec.first))
    qdir = first_log.parent / "q"
    qdir.mkdir(parents=True, exist_ok=True)
    template = Path(spec.log).name
    base = template.replace(spec.var, "") if spec.var else template
    base = base.replace(".log", "").replace("..", ".").strip(".") or "job"
    status = {job: qdir / f"{base}.{job}.status" for job in spec.ids}
    for job in spec.ids:
        status[job].unlink(missing_ok=True)
        body = wrapper_script(spec.command_for(job), spec.log_for(job), str(status[job].resolve()))
        (qdir / f"{base}.{job}.sh").write_text("#!/usr/bin/env bash\n" + body)
    array_script = qdir / f"{base}.sh"
    array_script.write_text(
        "#!/usr/bin/env bash\n"
        f"cd {shlex.quote(os.getcwd())}\n"
        "if [ -f ./path.sh ]; then . ./path.sh; fi\n"
        f'exec bash {shlex.quote(str(qdir.resolve()))}/{shlex.quote(base)}."$SLURM_ARRAY_TASK_ID".sh\n'
    )
    array = f"{spec.first}-{spec.last}" + (f"%{throttle}" if throttle else "")
    cmd = command + extra + [
        f"--array={array}",
        "--wait",
        f"--job-name={base}",
        f"--output={qdir / (base + '.%a.out')}",
        str(array_script),
    ]
    proc = subprocess.run(cmd)
    failed = {}
    for job in spec.ids:
        try:
            rc = int(status[job].read_text().strip())
        except (FileNotFoundError, ValueError):
            failed[job] = f"no exit code (cancelled or killed? see {qdir / f'{base}.{job}.out'})"
            continue
        if rc != 0:
            failed[job] = f"exit code {rc}"
    if proc.returncode != 0 and len(failed) == len(spec.ids) and not any(s.exists() for s in status.values()):
        print(f"{PROG}: sbatch failed with exit code {proc.returncode}: {shlex.join(cmd)}", file=sys.stderr)
    return report_failures(PROG, spec, failed)


if __name__ == "__main__":
    sys.exit(main())
