#!/usr/bin/env bash
# mini_meeting / peers1: ESPnet's stock models next to TagSpeech on the mini meetings.
#   SA-EEND  (espnet2.bin.diar_train, DiarizeSpeech)   whole recordings -> RTTM
#   SOT ASR  (espnet2.bin.asr_train / asr_inference)   <sc>-separated words per VAD window
# Each trains from scratch for the wall-clock budget of TagSpeech's stages 5-7
# (--budget_min), decodes the test set as TagSpeech's default decoding does (EEND: the
# whole test recordings; SOT: the same VAD windows) and is scored by this project's
# scorers against the same references; the last stage prints one table with our rows.
#
#  1 data         Kaldi dirs of ../tagspeech1 -> data/eend/{train,dev,test} (frame labels
#                 from the RTTM), data/sot/{train,dev,test} (SOT text from the cuts' utterances)
#  2 tokens       SOT word list (<sc> is a word) by espnet2.bin.tokenize_text
#  3 EEND train   diar_train under the budget (local/budget_train.py; resumes)
#  4 EEND decode  dev: threshold / median filter chosen by DER; test: RTTM
#  5 SOT train    asr_train under the budget (resumes)
#  6 SOT decode   asr_inference on the test windows -> SegLST, one pseudo-speaker per segment
#  7 scoring      DER/JER (score_diarization), cpWER/WER (local/score_sot.py)
#  8 table        local/peer_table.py -> exp/RESULTS.md (with TagSpeech's rows)
#
# Re-running skips what is done: data and token files that exist, trainings whose budget
# is used (an interrupted one resumes from its last epoch), decodings with an output.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stage=1
stop_stage=8
peers="eend sot"              # which peers to run: eend and/or sot
tagspeech_dir=../tagspeech1   # the mini recipe: its dump/<size>/raw dirs and exp/tagspeech_<size>
size=mini                     # the mini recipe's --size (its data and experiment names)
budget_min=19                 # wall-clock training minutes per peer (TagSpeech stages 5+6+7)
python=python3
nj=2                          # SOT decoding jobs
eend_config=conf/train_eend.yaml
sot_config=conf/train_sot.yaml
sot_decode_config=conf/decode_sot.yaml
eend_train_args=""            # more diar_train options, e.g. "--num_iters_per_epoch 10"
sot_train_args=""             # more asr_train options
eend_thresholds="0.3 0.4 0.5 0.6 0.7"   # EEND post-processing tried on dev
eend_medians="1 3 5 9 15"               # (median filter widths, 80 ms encoder frames)
datadir=data
expdir=exp
help_message="Usage: $0 [--stage N] [--stop_stage N] [--peers 'eend sot'] [--budget_min ${budget_min}] [--tagspeech_dir DIR] ..."

[ -f path.sh ] && . ./path.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $*"
for p in ${peers}; do
  case ${p} in eend|sot) ;; *) die "--peers takes eend and/or sot, got '${p}'" ;; esac
done
awk -v b="${budget_min}" 'BEGIN { exit !(b + 0 > 0) }' || die "--budget_min must be > 0, got '${budget_min}'"
[[ ${nj} =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive integer, got '${nj}'"
raw=${tagspeech_dir}/dump/${size}/raw
for x in train dev test train_cuts dev_cuts test_vad_cuts; do
  [ -f "${raw}/${x}/wav.scp" ] || die "missing ${raw}/${x}/wav.scp: run the mini recipe first (make demo) or give --tagspeech_dir"
done

run_stage() { [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ]; }
has() { case " ${peers} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
py() { ${python} "$@"; }

eend_exp=${expdir}/eend
sot_exp=${expdir}/sot
ref=${raw}/test

# ----------------------------------------------------------------------------- 1 data
if run_stage 1; then
  if has eend; then
    for x in train dev test; do
      d=${datadir}/eend/${x}
      labels=true; [ "${x}" = test ] && labels=false
      log "Stage 1: EEND data ${x} -> ${d} (skipped when done with the same label settings)"
      py local/prep_eend.py --in_dir "${raw}/${x}" --out_dir "${d}" --labels "${labels}" \
        --train_config "${eend_config}"
    done
  fi
  if has sot; then
    for x in train dev test; do
      d=${datadir}/sot/${x}
      # the test windows are TagSpeech's stage-3 VAD windows: made again when those change
      wins_stamp=""; [ "${x}" = test ] && wins_stamp=$(md5sum < "${raw}/test_vad_cuts/cut2reco")
      if [ -f "${d}/speech_shape" ]; then
        [ "$(cat "${d}/windows_stamp" 2>/dev/null)" = "${wins_stamp}" ] && continue
        log "Stage 1: TagSpeech's test windows changed: SOT data ${x} again"
        rm -rf "${d}"
      fi
      log "Stage 1: SOT data ${x} -> ${d}"
      if [ "${x}" = test ]; then
        py local/prep_sot.py --cuts_dir "${raw}/test_vad_cuts" --out_dir "${d}"
        echo "${wins_stamp}" > "${d}/windows_stamp"
      else
        py local/prep_sot.py --cuts_dir "${raw}/${x}_cuts" --reco_dir "${raw}/${x}" --out_dir "${d}"
      fi
    done
  fi
fi

# ----------------------------------------------------------------------------- 2 tokens
tokens=${datadir}/sot/tokens.txt
if run_stage 2 && has sot && [ ! -f "${tokens}" ]; then
  log "Stage 2: SOT word list -> ${tokens}"
  py -m espnet2.bin.tokenize_text --token_type word --input "${datadir}/sot/train/text" \
    --output "${tokens}" --field 2- --write_vocabulary true \
    --add_symbol "<blank>:0" --add_symbol "<unk>:1" --add_symbol "<sos/eos>:-1"
  grep -qx "<sc>" "${tokens}" || die "${tokens}: no <sc> symbol (SOT text of stage 1?)"
fi

# ----------------------------------------------------------------------------- 3 EEND train
if run_stage 3 && has eend; then
  log "Stage 3: ESPnet SA-EEND training, ${budget_min} min -> ${eend_exp} (log ${eend_exp}/train.log)"
  d=${datadir}/eend
  # shellcheck disable=SC2086
  py local/budget_train.py --budget_min "${budget_min}" --output_dir "${eend_exp}" -- \
    ${python} -m espnet2.bin.diar_train --config "${eend_config}" --ngpu 0 \
      --train_data_path_and_name_and_type "${d}/train/wav.scp,speech,sound" \
      --train_data_path_and_name_and_type "${d}/train/spk_labels.scp,spk_labels,npy" \
      --train_shape_file "${d}/train/speech_shape" --train_shape_file "${d}/train/spk_labels_shape" \
      --valid_data_path_and_name_and_type "${d}/dev/wav.scp,speech,sound" \
      --valid_data_path_and_name_and_type "${d}/dev/spk_labels.scp,spk_labels,npy" \
      --valid_shape_file "${d}/dev/speech_shape" --valid_shape_file "${d}/dev/spk_labels_shape" \
      --output_dir "${eend_exp}" --resume true ${eend_train_args}
fi

# ----------------------------------------------------------------------------- 4 EEND decode
eend_model=${eend_exp}/valid.der.ave.pth
if run_stage 4 && has eend; then
  [ -e "${eend_model}" ] || die "missing ${eend_model}: run stage 3"
  log "Stage 4: EEND decoding of dev (post-processing chosen by DER) and test"
  # shellcheck disable=SC2086
  py local/eend_infer.py --train_config "${eend_exp}/config.yaml" --model_file "${eend_model}" \
    --data_dir "${datadir}/eend/dev" --out_dir "${eend_exp}/decode_dev" \
    --grid_thresholds ${eend_thresholds} --grid_medians ${eend_medians}
  py local/eend_infer.py --train_config "${eend_exp}/config.yaml" --model_file "${eend_model}" \
    --data_dir "${datadir}/eend/test" --out_dir "${eend_exp}/decode_test" \
    --postproc "${eend_exp}/decode_dev/postproc.json"
fi

# ----------------------------------------------------------------------------- 5 SOT train
if run_stage 5 && has sot; then
  [ -f "${tokens}" ] || die "missing ${tokens}: run stage 2"
  log "Stage 5: ESPnet SOT ASR training, ${budget_min} min -> ${sot_exp} (log ${sot_exp}/train.log)"
  d=${datadir}/sot
  # shellcheck disable=SC2086
  py local/budget_train.py --budget_min "${budget_min}" --output_dir "${sot_exp}" -- \
    ${python} -m espnet2.bin.asr_train --config "${sot_config}" --ngpu 0 \
      --token_type word --token_list "${tokens}" --non_linguistic_symbols none \
      --cleaner none --g2p none \
      --train_data_path_and_name_and_type "${d}/train/wav.scp,speech,sound" \
      --train_data_path_and_name_and_type "${d}/train/text,text,text" \
      --train_shape_file "${d}/train/speech_shape" \
      --valid_data_path_and_name_and_type "${d}/dev/wav.scp,speech,sound" \
      --valid_data_path_and_name_and_type "${d}/dev/text,text,text" \
      --valid_shape_file "${d}/dev/speech_shape" \
      --output_dir "${sot_exp}" --resume true ${sot_train_args}
fi

# ----------------------------------------------------------------------------- 6 SOT decode
sot_model=${sot_exp}/valid.cer_ctc.ave.pth
sot_dec=${sot_exp}/decode_test
if run_stage 6 && has sot; then
  [ -e "${sot_model}" ] || die "missing ${sot_model}: run stage 5"
  wins=${datadir}/sot/test
  n=$(wc -l < "${wins}/wav.scp")
  _nj=$(( nj < n ? nj : n ))
  outs=()
  for j in $(seq "${_nj}"); do outs+=("${sot_dec}/logdir/output.${j}/1best_recog/text"); done
  # outputs of another model (retrained since), decoding config or set of windows are stale
  stamp="$(readlink -f "${sot_model}") $(stat -L -c '%s %Y' "${sot_model}") $(md5sum < "${sot_decode_config}") ${_nj}"
  stamp+=" $(md5sum < "${wins}/cut2reco")"
  if [ -f "${sot_dec}/stamp" ] && [ "$(cat "${sot_dec}/stamp")" != "${stamp}" ]; then
    log "Stage 6: model or decoding config changed: decoding again"
    rm -rf "${sot_dec}"
  fi
  if ! ls "${outs[@]}" > /dev/null 2>&1; then
    log "Stage 6: SOT decoding of ${n} test windows with ${_nj} jobs -> ${sot_dec}"
    mkdir -p "${sot_dec}/logdir"
    keys=()
    for j in $(seq "${_nj}"); do keys+=("${sot_dec}/logdir/keys.${j}.scp"); done
    utils/split_scp.sh "${wins}/wav.scp" "${keys[@]}"
    # the jobs share the cores (each with all threads ran several times slower)
    OMP_NUM_THREADS=$(( $(nproc) / _nj > 0 ? $(nproc) / _nj : 1 )) \
    utils/run.pl JOB=1:"${_nj}" "${sot_dec}/logdir/asr_inference.JOB.log" \
      ${python} -m espnet2.bin.asr_inference --ngpu 0 --config "${sot_decode_config}" \
        --data_path_and_name_and_type "${wins}/wav.scp,speech,sound" \
        --key_file "${sot_dec}/logdir/keys.JOB.scp" \
        --asr_train_config "${sot_exp}/config.yaml" --asr_model_file "${sot_model}" \
        --output_dir "${sot_dec}/logdir/output.JOB" \
      || die "SOT decoding failed: see ${sot_dec}/logdir/asr_inference.*.log"
    echo "${stamp}" > "${sot_dec}/stamp"
  fi
  py local/sot_to_seglst.py --cut2reco "${wins}/cut2reco" --out "${sot_dec}/hyp.seglst.json" "${outs[@]}"
fi

# ----------------------------------------------------------------------------- 7 scoring
if run_stage 7; then
  if has eend; then
    [ -f "${eend_exp}/decode_test/rttm" ] || die "missing ${eend_exp}/decode_test/rttm: run stage 4"
    for c in 0 0.25; do
      log "Stage 7: EEND DER/JER, collar ${c}"
      py -m espnet_tagspeech.bin.score_diarization -r "${ref}/rttm" -s "${eend_exp}/decode_test/rttm" \
        -u "${ref}/uem" --collar "${c}" --json "${eend_exp}/decode_test/der_c${c}.json" > "${eend_exp}/decode_test/der_c${c}.txt"
      sed -n '1p;$p' "${eend_exp}/decode_test/der_c${c}.txt"
    done
  fi
  if has sot; then
    [ -f "${sot_dec}/hyp.seglst.json" ] || die "missing ${sot_dec}/hyp.seglst.json: run stage 6"
    log "Stage 7: SOT cpWER/WER"
    py local/score_sot.py -r "${ref}/ref.seglst.json" --hyp "${sot_dec}/hyp.seglst.json" \
      --json "${sot_dec}/words.json"
    # the same windows and convention with the reference's own words: what perfect words
    # lose to the pseudo-speaker convention alone
    py local/reference_sot.py --ref "${ref}/ref.seglst.json" --cut2reco "${datadir}/sot/test/cut2reco" \
      --out "${sot_dec}/oracle_hyp.seglst.json"
    py local/score_sot.py -r "${ref}/ref.seglst.json" --hyp "${sot_dec}/oracle_hyp.seglst.json" \
      --json "${sot_dec}/oracle_words.json"
  fi
fi

# ----------------------------------------------------------------------------- 8 table
if run_stage 8; then
  log "Stage 8: table -> ${expdir}/RESULTS.md"
  py local/peer_table.py --tagspeech_dir "${tagspeech_dir}" --size "${size}" --exp_dir "${expdir}" \
    --budget_min "${budget_min}" --out "${expdir}/RESULTS.md"
fi
