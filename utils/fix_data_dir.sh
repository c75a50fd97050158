#!/usr/bin/env bash
# Usage: utils/fix_data_dir.sh [options] DIR   (--help for the options)
# Runs python -m espnet_tagspeech.bin.fix_data_dir with the repository's venv python
# if there is one, else python3.
set -euo pipefail
root=$(cd -- "$(dirname -- "$(readlink -f -- "$0")")/.." && pwd)
python=python3
if [ -x "$root/.venv/bin/python" ]; then
    python=$root/.venv/bin/python
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m espnet_tagspeech.bin.fix_data_dir "$@"
