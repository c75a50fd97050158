"""Collect the RESULTS.md of several decode dirs into one experiment RESULTS.md.

Usage::

    python -m espnet_tagspeech.bin.collect_results --exp_dir exp/x --out exp/x/RESULTS.md \\
        exp/x/decode_*/test/RESULTS.md ...

The header (environment, config) of the first file is kept once; the table rows
of every file are gathered under one table header.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="RESULTS.md files")
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from espnet_tagspeech.data.atomic import atomic_write

    header: List[str] = []
    table_head: List[str] = []
    rows: List[str] = []
    for i, f in enumerate(args.results):
        path = Path(f)
        if not path.is_file():
            print(f"collect_results: no such file {f}", file=sys.stderr)
            return 1
        lines = path.read_text(encoding="utf-8").splitlines()
        first_table = next((j for j, ln in enumerate(lines) if ln.startswith("|")), len(lines))
        if i == 0:
            header = lines[:first_table]
            table_head = lines[first_table:first_table + 2]
        rows += [ln for ln in lines[first_table + 2:] if ln.startswith("|")]
    with atomic_write(args.out) as out:
        out.write("\n".join(header).rstrip() + "\n\n")
        out.write(f"## {Path(args.exp_dir).name}\n\n")
        out.write("\n".join(table_head + rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
