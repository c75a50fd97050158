#!/usr/bin/env bash
# Same as utils/split_scp.pl (kept under both names): split an scp file into N pieces.
exec python3 "$(dirname -- "$(readlink -f -- "$0")")/split_scp.pl" "$@"
