#!/usr/bin/env bash
# AliMeeting data preparation for TagSpeech: data/{train,eval,test}_far from the corpus at
# ${ALIMEETING} (db.sh): Train_Ali_far, Eval_Ali(_far), Test_Ali(_far).
# Usage: local/data.sh [--sets "train eval test"] [--wav_format path|sox] [--data_dir data]
#                      [--allow_missing true|false] [--skip_bad true|false]
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

sets="train eval test"
wav_format=path      # path: the 8-channel wav (stage 2 keeps channel 0); sox: a "remix 1" pipe
data_dir=data
allow_missing=false  # true: skip parts that are absent
skip_bad=false       # true: skip malformed sessions (warned) instead of stopping
help_message=$(sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//')

. ./db.sh
. ./path.sh
. ./utils/parse_options.sh

if [ -z "${ALIMEETING:-}" ]; then
  log "ERROR: the variable ALIMEETING is not set. Set ALIMEETING in db.sh (or export"
  log "       ALIMEETING=/path) to the dir holding Train_Ali_far, Eval_Ali and Test_Ali"
  log "       (download: https://www.openslr.org/119/ ; see README.md)."
  exit 1
fi
if [ ! -d "${ALIMEETING}" ]; then
  log "ERROR: ALIMEETING=${ALIMEETING} is not a directory (see db.sh and README.md)"
  exit 1
fi

opts=(--corpus_dir "${ALIMEETING}" --out_dir "${data_dir}" --wav_format "${wav_format}")
# shellcheck disable=SC2206
opts+=(--sets ${sets})
[ "${allow_missing}" = true ] && opts+=(--allow_missing)
[ "${skip_bad}" = true ] && opts+=(--skip_bad)

log "Preparing AliMeeting far-field -> ${data_dir}"
python3 -m espnet_tagspeech.bin.prepare_alimeeting "${opts[@]}"

for x in ${sets}; do
  [ -d "${data_dir}/${x}_far" ] || continue   # absent part skipped with --allow_missing true
  utils/validate_data_dir.sh --no-warnings "${data_dir}/${x}_far"
done
log "Successfully finished. [elapsed=${SECONDS}s]"
