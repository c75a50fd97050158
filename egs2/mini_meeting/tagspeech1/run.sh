#!/usr/bin/env bash
# mini_meeting: a synthetic meeting corpus made offline (espeak-ng voices) and a small
# TagSpeech model that trains on 2 CPU cores. `./run.sh` runs every stage;
# `./run.sh --size tiny` is the CI-sized run. Other options go to tagspeech.sh.
#
# Test sets are decoded twice: by TagSpeech itself (the LLM writes the whole answer, the
# recipe's result) and by the cascade baseline (the semantic stream's CTC head writes the
# lines, clustering their voices gives the speakers); RESULTS.md holds both rows.
set -euo pipefail

size=mini   # tiny (CI, minutes) | mini (default, <= 30 min on 2 cores)
stage=1
stop_stage=11
systems="llm cascade"   # decodings of stages 8-9: llm (TagSpeech) and/or cascade (baseline)
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --size=*) size=${1#*=}; shift ;;
    --stage) stage=$2; shift 2 ;;
    --stop_stage) stop_stage=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
# each size's configs: the CI-sized run's own files, the mini run's shared ones from the root conf/
case ${size} in
  tiny) vocab_size=300 train_config=conf/train_tiny.yaml pretrain_config=conf/pretrain_tiny.yaml
        llm_decode=conf/decode_tiny.yaml cascade_decode=conf/decode_tiny_cascade.yaml
        segment_config=conf/segment_tiny.yaml ;;
  # every word of the mini grammar becomes one or two pieces: shorter targets
  mini) vocab_size=800 train_config=conf/train_tagspeech_mini.yaml
        pretrain_config=conf/pretrain_tagspeech_mini.yaml
        llm_decode=conf/decode_mini.yaml cascade_decode=conf/decode_tagspeech_ctc_text.yaml
        segment_config=conf/segment_mini.yaml ;;
  *) echo "run.sh: --size must be tiny or mini, got '${size}'" >&2; exit 1 ;;
esac

run() {  # run <first stage> <last stage> [options]: tagspeech.sh on the overlap with --stage..--stop_stage
  local lo=$(( $1 > stage ? $1 : stage )) hi=$(( $2 < stop_stage ? $2 : stop_stage ))
  shift 2
  [ "${lo}" -le "${hi}" ] || return 0
  ./tagspeech.sh \
    --local_data_opts "--size ${size} --data_dir data/${size} --simdir downloads/${size}" \
    --datadir "data/${size}" --dumpdir "dump/${size}" \
    --train_set train --valid_set dev --test_sets "test" \
    --train_config "${train_config}" --pretrain_config "${pretrain_config}" \
    --tokenizer_type sentencepiece --vocab_size ${vocab_size} --ngram_order 4 \
    --max_cut_dur 20 --segment_config "${segment_config}" --inference_nj 2 --batch_size 8 --nj 2 --stream_cache true \
    --tag "${size}" --stage "${lo}" --stop_stage "${hi}" "$@" "${args[@]+"${args[@]}"}"
}

# TagSpeech: the LLM's answer, its cut-local speakers linked across a recording's cuts
llm=(--inference_config "${llm_decode}" --link_config conf/link_speakers.yaml
     --system "TagSpeech (LLM)")
case " ${systems} " in *" llm "*) run 1 9 "${llm[@]}" ;; *) run 1 7 ;; esac
case " ${systems} " in *" cascade "*)
  run 8 9 --inference_config "${cascade_decode}" --link_config conf/link_lines.yaml \
    --system "cascade (CTC + clustering)" ;;
esac
run 10 11 "${llm[@]}"

# the experiment tagspeech.sh wrote to: --exp_name, else tagspeech_<tag> (the last --tag given wins)
tag=${size} exp_name=""
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
  case ${args[i]} in --exp_name) exp_name=${args[i + 1]} ;; --tag) tag=${args[i + 1]} ;; esac
done
exp_name=${exp_name:-tagspeech_${tag}}
results=exp/${exp_name}/RESULTS.md
if [ -f "${results}" ] && [ "${stop_stage}" -ge 9 ]; then
  echo "===================== ${results} ====================="
  cat "${results}"
fi
