#!/usr/bin/env bash
# Usage: utils/spk2utt_to_utt2spk.sh [spk2utt] > utt2spk
# One "utt speaker" line per utterance, in spk2utt order (pipe through
# `LC_ALL=C sort` if the speakers are not id prefixes).
set -euo pipefail
if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "Usage: $0 [spk2utt] > utt2spk" >&2
    exit 1
fi
awk '
    NF == 0 { next }
    NF < 2 {
        printf "spk2utt_to_utt2spk.sh: %s:%d: speaker %s has no utterances\n", FILENAME, FNR, $1 > "/dev/stderr"
        exit 1
    }
    { for (i = 2; i <= NF; i++) print $i, $1 }
' "${1:--}"
