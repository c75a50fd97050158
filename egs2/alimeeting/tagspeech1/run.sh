#!/usr/bin/env bash
# TagSpeech on AliMeeting far-field (channel 0 of the 8-channel array).
# Set ALIMEETING in db.sh first (see README.md). Options go to tagspeech.sh.
set -euo pipefail

./tagspeech.sh \
  --train_set train_far --valid_set eval_far --test_sets "eval_far test_far" \
  --train_config conf/train.yaml \
  --inference_config conf/decode.yaml \
  --tokenizer_type hf \
  --max_cut_dur 80 \
  "$@"
