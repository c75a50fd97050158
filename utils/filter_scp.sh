#!/usr/bin/env bash
# Usage: utils/filter_scp.sh [--exclude] [-f N] id_list [in.scp] > out.scp
# Keep the lines of in.scp (or stdin) whose field N (default 1) is the first
# field of some line of id_list; with --exclude keep the other lines.  Input
# order is kept.
set -euo pipefail
usage() {
    echo "Usage: $0 [--exclude] [-f N] id_list [in.scp] > out.scp" >&2
    exit 1
}
exclude=0
field=1
while [ $# -gt 0 ]; do
    case "$1" in
        --exclude) exclude=1; shift ;;
        -f) [ $# -ge 2 ] || usage; field=$2; shift 2 ;;
        -h | --help) usage ;;
        -*) echo "$0: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || [ $# -eq 2 ] || usage
case "$field" in '' | *[!0-9]* | 0) echo "$0: -f needs a positive field number, got '$field'" >&2; exit 1 ;; esac
[ -f "$1" ] || { echo "$0: id list '$1' not found" >&2; exit 1; }
if [ $# -eq 2 ] && [ ! -f "$2" ]; then
    echo "$0: input '$2' not found" >&2
    exit 1
fi
awk -v f="$field" -v ex="$exclude" '
    NR == FNR { if (NF) keep[$1] = 1; next }
    { hit = (NF >= f && ($f in keep)) ? 1 : 0; if (hit != ex) print }
' "$1" "${2:--}"
