#!/usr/bin/env python3
"""Split an scp / text file into N pieces of consecutive lines (Kaldi interface).

    utils/split_scp.pl [--utt2spk FILE] in.scp out.1.scp ... out.N.scp

Pieces get nearly equal numbers of lines, in input order.  With --utt2spk the
lines of one speaker stay in one piece (they must be consecutive in the input,
as they are when utterance ids start with the speaker id); pieces are then
balanced by lines as well as whole speakers allow.  It is an error to ask for
more pieces than there are lines (or speakers).
"""

import os
import sys
import tempfile

PROG = "split_scp.pl"
USAGE = f"Usage: {PROG} [--utt2spk FILE] in.scp out.1.scp [out.2.scp ...]"


def die(msg):
    print(f"{PROG}: {msg}\n{USAGE}", file=sys.stderr)
    sys.exit(1)


def read_lines(path):
    try:
        with open(path, encoding="utf-8", newline="\n") as f:
            return [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError) as e:
        die(f"cannot read {path}: {e}")


def speaker_groups(lines, in_path, utt2spk_path):
    """Sizes of the runs of consecutive lines of one speaker."""
    utt2spk = {}
    for n, line in enumerate(read_lines(utt2spk_path), 1):
        fields = line.split()
        if len(fields) != 2:
            die(f"{utt2spk_path}:{n}: expected 2 fields, got {len(fields)}")
        utt2spk[fields[0]] = fields[1]
    sizes, seen, prev = [], set(), None
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0] not in utt2spk:
            die(f"{in_path}:{n}: utterance {fields[0] if fields else '(empty line)'} is not in {utt2spk_path}")
        spk = utt2spk[fields[0]]
        if spk != prev:
            if spk in seen:
                die(f"{in_path}:{n}: lines of speaker {spk} are not consecutive (sort by speaker first)")
            seen.add(spk)
            sizes.append(0)
            prev = spk
        sizes[-1] += 1
    return sizes


def cut_points(sizes, pieces):
    """Group boundaries that split consecutive groups into ``pieces`` balanced, non-empty parts."""
    total = sum(sizes)
    cum = [0]
    for s in sizes:
        cum.append(cum[-1] + s)
    cuts = [0]
    for i in range(1, pieces):
        target = total * i / pieces
        lo, hi = cuts[-1] + 1, len(sizes) - (pieces - i)
        best = min(range(lo, hi + 1), key=lambda b: (abs(cum[b] - target), b))
        cuts.append(best)
    cuts.append(len(sizes))
    return [(cum[a], cum[b]) for a, b in zip(cuts, cuts[1:])]


def write(path, lines):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".split_scp.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, path)


def main(argv):
    utt2spk = None
    if argv and argv[0].startswith("--utt2spk"):
        if "=" in argv[0]:
            utt2spk, argv = argv[0].split("=", 1)[1], argv[1:]
        elif len(argv) > 1:
            utt2spk, argv = argv[1], argv[2:]
        else:
            die("--utt2spk needs a file")
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if len(argv) < 2 or argv[0].startswith("-"):
        die("need an input file and at least one output file")
    in_path, outs = argv[0], argv[1:]
    lines = read_lines(in_path)
    if utt2spk is not None:
        sizes = speaker_groups(lines, in_path, utt2spk)
        if len(sizes) < len(outs):
            die(f"{len(outs)} pieces requested but {in_path} has only {len(sizes)} speakers")
    else:
        sizes = [1] * len(lines)
        if len(lines) < len(outs):
            die(f"{len(outs)} pieces requested but {in_path} has only {len(lines)} lines")
    for out, (a, b) in zip(outs, cut_points(sizes, len(outs))):
        write(out, lines[a:b])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
