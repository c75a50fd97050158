#!/usr/bin/env bash
# Usage: utils/utt2spk_to_spk2utt.sh [utt2spk] > spk2utt
# Speakers in order of first appearance, each followed by its utterances in
# input order (for a sorted utt2spk with speaker-prefixed ids: sorted output).
set -euo pipefail
if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "Usage: $0 [utt2spk] > spk2utt" >&2
    exit 1
fi
awk '
    NF == 0 { next }
    NF != 2 {
        printf "utt2spk_to_spk2utt.sh: %s:%d: expected 2 fields, got %d\n", FILENAME, FNR, NF > "/dev/stderr"
        bad = 1; exit 1
    }
    !($2 in utts) { order[++n] = $2; utts[$2] = $1; next }
    { utts[$2] = utts[$2] " " $1 }
    END { if (!bad) for (i = 1; i <= n; i++) print order[i], utts[order[i]] }
' "${1:--}"
