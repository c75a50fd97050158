#!/usr/bin/env bash
# TagSpeech on AMI (SDM by default; IHM-mix with --mic ihm-mix). Full-corpus-ASR partition.
# Set AMI in db.sh first (see README.md). Other options go to tagspeech.sh.
set -euo pipefail

mic=sdm
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --mic) mic=$2; shift 2 ;;
    --mic=*) mic=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case ${mic} in
  sdm|ihm-mix) ;;
  *) echo "run.sh: --mic must be sdm or ihm-mix, got '${mic}'" >&2; exit 1 ;;
esac

./tagspeech.sh \
  --local_data_opts "--mic ${mic}" \
  --train_set "train_${mic}" --valid_set "dev_${mic}" --test_sets "dev_${mic} test_${mic}" \
  --train_config conf/train.yaml \
  --inference_config conf/decode.yaml \
  --tokenizer_type hf \
  --max_cut_dur 80 \
  "${args[@]+"${args[@]}"}"
