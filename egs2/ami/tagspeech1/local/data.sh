#!/usr/bin/env bash
# AMI data preparation for TagSpeech: data/{train,dev,test}_<mic> from the corpus at ${AMI}
# (db.sh), split by the official Full-corpus-ASR partition in local/split_full_corpus_asr.
# Usage: local/data.sh [--mic sdm|ihm-mix] [--annotations nxt|rttm] [--rttm_dir DIR]
#                      [--turns words|segments] [--max_pause 0.5] [--data_dir data]
#                      [--allow_missing true|false] [--skip_bad true|false]
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

mic=sdm              # sdm (Array1-01) or ihm-mix (Mix-Headset)
annotations=nxt      # nxt: manual annotations 1.6.x; rttm: BUT only_words RTTMs
rttm_dir=""          # for --annotations rttm: AMI-diarization-setup/only_words/rttms
turns=words          # words: words joined over pauses < max_pause; segments: transcriber segments
max_pause=0.5
data_dir=data
sets="train dev test"
allow_missing=false  # true: skip meetings whose audio/annotations are absent
skip_bad=false       # true: skip malformed annotation entries (warned) instead of stopping
help_message=$(sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//')

. ./db.sh
. ./path.sh
. ./utils/parse_options.sh

if [ -z "${AMI:-}" ]; then
  log "ERROR: the variable AMI is not set. Set AMI in db.sh (or export AMI=/path) to the dir holding"
  log "       amicorpus/<meeting>/audio and ami_public_manual_1.6.2 (download:"
  log "       https://groups.inf.ed.ac.uk/ami/download/ ; see README.md)."
  exit 1
fi
if [ ! -d "${AMI}" ]; then
  log "ERROR: AMI=${AMI} is not a directory (see db.sh and README.md)"
  exit 1
fi

opts=(--corpus_dir "${AMI}" --split_dir local/split_full_corpus_asr --out_dir "${data_dir}"
      --mic "${mic}" --annotations "${annotations}" --turns "${turns}" --max_pause "${max_pause}")
# shellcheck disable=SC2206
opts+=(--sets ${sets})
[ -n "${rttm_dir}" ] && opts+=(--rttm_dir "${rttm_dir}")
[ "${allow_missing}" = true ] && opts+=(--allow_missing)
[ "${skip_bad}" = true ] && opts+=(--skip_bad)

log "Preparing AMI (${mic}, ${annotations} annotations) -> ${data_dir}"
python3 -m espnet_tagspeech.bin.prepare_ami "${opts[@]}"

for x in ${sets}; do
  utils/validate_data_dir.sh --no-warnings "${data_dir}/${x}_${mic}"
done
log "Successfully finished. [elapsed=${SECONDS}s]"
