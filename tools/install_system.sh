#!/usr/bin/env bash
# Install the Debian packages the recipes need (espeak-ng, sox, sctk), if missing.
# As root this uses apt-get; otherwise it says what to run instead of failing.
set -uo pipefail

declare -A probe=([espeak-ng]=espeak-ng [sox]=sox [sctk]=md-eval.pl)
missing=()
for pkg in "$@"; do
  cmd=${probe[$pkg]:-$pkg}
  command -v "$cmd" >/dev/null 2>&1 || dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install_system.sh: missing system packages: ${missing[*]}" >&2
  echo "install_system.sh: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  echo "install_system.sh: (tests that need them are skipped; the mini recipe needs espeak-ng)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system.sh: no apt-get here; install ${missing[*]} with your package manager" >&2
  exit 0
fi
echo "install_system.sh: apt-get install ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
  echo "install_system.sh: apt-get failed; install ${missing[*]} by hand" >&2
  exit 0
fi
