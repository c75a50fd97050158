#!/usr/bin/env bash
# The one TagSpeech stage script. Every recipe's run.sh calls it (through a symlink in the
# recipe dir) with its own options; run it from the recipe dir (egs2/<corpus>/tagspeech1).
#
#  1 data prep        local/data.sh -> <datadir>/<set>
#  2 format audio     16 kHz mono wav recordings -> dump/raw/<set>, validated
#  3 cuts             utterance groups + serialized targets -> dump/raw/<set>_cuts (audio cut)
#  4 tokenizer        sentencepiece model on the targets (small LLMs); HF tokenizer otherwise;
#                     with --ngram_order N, a token n-gram LM of the text lines (CTC beam search)
#  5 pre-training     optional: small encoders (mini recipe); re-running resumes a killed run
#  6 collect stats    ESPnet collect_stats (shape files for batching); with --stream_cache true
#                     also the frozen encoders' outputs of the train/valid cuts (dump_streams)
#  7 training         ESPnet Trainer (on those outputs with --stream_cache true); resumes
#                     from the last checkpoint after a kill
#  8 decoding         test sets cut by a VAD (--test_segmentation vad, no reference needed) or
#                     by the reference (oracle); split over --inference_nj jobs; cut-local
#                     speakers linked into recording speakers (--link_config yaml); with
#                     speaker_voice_passes: 2 in the decoding yaml, decoded again into <dir>
#                     after a first pass into <dir>/pass1 whose linked voices and text
#                     blocks it reads (the second pass writes the speaker blocks only)
#  9 scoring          DER/JER/cpWER/tcpWER, RESULTS.md (one row per decoding = system), PNGs
# 10 pack             zip for the model zoo (Speech2Tags.from_pretrained / ModelDownloader)
# 11 upload           HF hub (only with --hf_repo and credentials; else prints what it would do)
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}
die() { log "ERROR: $*"; exit 1; }
SECONDS=0

# General
stage=1
stop_stage=11
skip_stages=""        # e.g. "5 11"
nj=4                  # parallel jobs for data preparation / formatting
inference_nj=2        # parallel decoding jobs
gpu_inference=false
ngpu=0
python=python3
datadir=data          # where local/data.sh writes the Kaldi dirs
dumpdir=dump
expdir=exp
tag=""                # experiment tag; default: the train config's name
exp_name=""           # stage 7-11 dir under expdir (default tagspeech_<tag>); data, stats,
                      # streams and pre-training stay the tag's (a variant of one model)

# Data
local_data_opts=""
train_set=""
valid_set=""
test_sets=""
fs=16000
min_cut_dur=0.5
max_cut_dur=80
cut_opts=""

# Tokenizer (stage 4)
tokenizer_type=sentencepiece   # sentencepiece (trained here) or hf (the LLM's own)
vocab_size=200
ngram_order=0                  # >0: train a token n-gram LM of the lines (decoding --text_from ctc)
hf_tokenizer=""                # --tokenizer_type hf: the LLM's tokenizer dir (for the n-gram LM)

# Pre-training (stage 5) and training (stage 7)
pretrain_config=""
pretrain_args=""
train_config=""
train_args=""
stream_cache=false    # true: stage 6 dumps the frozen encoders' outputs; stage 7 trains on them

# Decoding (stage 8) and scoring (stage 9)
inference_config=""
inference_args=""
inference_model=valid.acc.ave.pth
batch_size=4
test_segmentation=vad  # vad: test recordings cut by a VAD (what a user has); oracle: reference cuts
segment_config=""      # segment_recordings yaml (conf/segment_*.yaml; empty: silero, windows <= max_cut_dur)
vad_opts=""            # more segment_recordings options, e.g. "--segmenter energy" (win over the yaml)
link=""                # cross-cut speaker voice prints: model (speaker stream) | fbank | resemblyzer | none
                       # (empty: the link config's, else model)
link_config=""         # merge_decodes yaml (conf/link_*.yaml): how speakers are linked
merge_args=""          # more merge_decodes options, e.g. "--linking_threshold 0.4"
system=""              # the decoding's row name in RESULTS.md (default: its decode dir name)
collars="0 0.25"
max_plots=5

# Packing and upload (stages 10, 11)
hf_repo=""

help_message="Usage: $0 --train_set <set> --valid_set <set> --test_sets \"<set> ...\" --train_config <yaml> [options]
  --stage N --stop_stage M --skip_stages \"5 11\"   which stages to run (1..11)
  --nj N --inference_nj N --batch_size N --ngpu N --gpu_inference true|false
  --train_config yaml --inference_config yaml --pretrain_config yaml --tag name
  --exp_name name   stages 7-11 in exp/<name> (a training variant on the tag's data and streams)
  --stream_cache true|false   stage 6 dumps the frozen encoders' outputs, stage 7 trains on them
  --local_data_opts \"...\"  passed to local/data.sh
  --tokenizer_type sentencepiece|hf --vocab_size N --ngram_order N
  --test_segmentation vad|oracle   test cuts from a VAD (default) or from the reference
  --segment_config yaml --vad_opts \"...\"   how stage 3 cuts test recordings (packed by stage 10)
  --link model|fbank|resemblyzer|none --link_config yaml --merge_args \"...\"   cross-cut speaker linking
  --system \"name\"   row name of this decoding in RESULTS.md
  --hf_repo user/name (stage 11 pushes only with this and credentials)"

log "$0 $*"
run_args=$(printf '%q ' "$0" "$@")
. ./utils/parse_options.sh

[ -f ./path.sh ] && . ./path.sh
[ -f ./cmd.sh ] && . ./cmd.sh
: "${train_cmd:=utils/run.pl}"
: "${cuda_cmd:=utils/run.pl}"
: "${decode_cmd:=utils/run.pl}"

[ -n "${train_set}" ] || die "--train_set is required"
[ -n "${valid_set}" ] || die "--valid_set is required"
[ -n "${train_config}" ] || die "--train_config is required"
[ -f "${train_config}" ] || die "--train_config ${train_config}: no such file"

[ -n "${tag}" ] || tag=$(basename "${train_config}" .yaml)
exp=${expdir}/${exp_name:-tagspeech_${tag}}
raw=${dumpdir}/raw
tok_dir=${dumpdir}/tokenizer
stats_dir=${expdir}/tagspeech_stats_${tag}
pre_dir=${expdir}/pretrain_${tag}
all_sets=$(echo "${train_set} ${valid_set} ${test_sets}" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')

run_stage() {  # run_stage N -> true when stage N is selected
  local n=$1 s
  [ "${n}" -ge "${stage}" ] && [ "${n}" -le "${stop_stage}" ] || return 1
  for s in ${skip_stages}; do [ "${s}" = "${n}" ] && return 1; done
  return 0
}

need() {  # need <file> <stage that makes it> [hint]
  [ -e "$1" ] || die "missing $1: run stage $2 first (--stage $2)${3:+; $3}"
}

py() { ${python} -m "espnet_tagspeech.bin.$1" "${@:2}"; }

# ----------------------------------------------------------------------------- 1 data prep
if run_stage 1; then
  log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
  [ -x local/data.sh ] || die "local/data.sh not found or not executable in $(pwd)"
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
  for x in ${all_sets}; do utils/validate_data_dir.sh "${datadir}/${x}"; done
fi

# ----------------------------------------------------------------------------- 2 format
if run_stage 2; then
  log "Stage 2: format audio (${fs} Hz mono) -> ${raw}/<set>"
  for x in ${all_sets}; do
    need "${datadir}/${x}/wav.scp" 1
    py format_wav_scp --in_dir "${datadir}/${x}" --out_dir "${raw}/${x}" --fs "${fs}" --nj "${nj}" \
      --recordings
    utils/validate_data_dir.sh "${raw}/${x}"
  done
fi

# ----------------------------------------------------------------------------- 3 cuts
# How stage 3 cuts test recordings: the segmentation yaml, else windows up to the training cuts
seg_opts=(--max_window "${max_cut_dur}")
[ -z "${segment_config}" ] || seg_opts=(--config "${segment_config}")
if run_stage 3; then
  log "Stage 3: utterance groups (${min_cut_dur}-${max_cut_dur} s) + targets -> ${raw}/<set>_cuts"
  for x in ${all_sets}; do
    need "${raw}/${x}/wav.scp" 2
    # shellcheck disable=SC2086
    py make_cuts --in_dir "${raw}/${x}" --out_dir "${raw}/${x}_cuts_seg" \
      --min_dur "${min_cut_dur}" --max_dur "${max_cut_dur}" ${cut_opts}
    py format_wav_scp --in_dir "${raw}/${x}_cuts_seg" --out_dir "${raw}/${x}_cuts" \
      --fs "${fs}" --nj "${nj}"
    utils/validate_data_dir.sh "${raw}/${x}_cuts"
  done
  if [ "${test_segmentation}" = vad ]; then
    for x in ${test_sets}; do
      log "Stage 3: VAD windows of ${x} (${segment_config:-max ${max_cut_dur} s} ${vad_opts}), no reference used" \
        "-> ${raw}/${x}_vad_cuts"
      # shellcheck disable=SC2086
      py segment_recordings --in_dir "${raw}/${x}" --out_dir "${raw}/${x}_vad_cuts" \
        "${seg_opts[@]}" --nj "${nj}" ${vad_opts}
    done
  fi
fi

# ----------------------------------------------------------------------------- 4 tokenizer
if run_stage 4; then
  if [ "${tokenizer_type}" = sentencepiece ]; then
    log "Stage 4: sentencepiece tokenizer (vocab ${vocab_size}) on ${raw}/${train_set}_cuts/text"
    need "${raw}/${train_set}_cuts/text" 3
    py train_tokenizer --text "${raw}/${train_set}_cuts/text" --out_dir "${tok_dir}" \
      --vocab_size "${vocab_size}"
  else
    log "Stage 4: tokenizer_type=${tokenizer_type}: the LLM's own tokenizer is used"
  fi
  if [ "${ngram_order}" -gt 0 ]; then
    need "${raw}/${train_set}_cuts/text" 3
    [ "${tokenizer_type}" = sentencepiece ] && _tok=${tok_dir}/tokenizer.model || _tok=${hf_tokenizer}
    [ -n "${_tok}" ] || die "--ngram_order with --tokenizer_type hf needs --hf_tokenizer <dir>"
    log "Stage 4: ${ngram_order}-gram LM of the text lines -> ${tok_dir}/ngram.json"
    py train_ngram --text "${raw}/${train_set}_cuts/text" --tokenizer "${_tok}" \
      --order "${ngram_order}" --out "${tok_dir}/ngram.json"
  fi
fi

tok_args=()
if [ "${tokenizer_type}" = sentencepiece ]; then
  tok_args=(--llm_conf "{tokenizer: ${tok_dir}/tokenizer.model}")
fi

# ----------------------------------------------------------------------------- 5 pre-training
if run_stage 5; then
  if [ -n "${pretrain_config}" ]; then
    log "Stage 5: pre-training small encoders: ${pretrain_config} -> ${pre_dir} (resumes from its checkpoint)"
    need "${raw}/${train_set}_cuts/wav.scp" 3
    rttm_args=()  # global speaker labels for the speaker part, when the sets have them
    [ -f "${raw}/${train_set}/rttm" ] && rttm_args+=(--train_rttm "${raw}/${train_set}/rttm")
    [ -f "${raw}/${valid_set}/rttm" ] && rttm_args+=(--valid_rttm "${raw}/${valid_set}/rttm")
    # word times (t-SOT targets of a time-ordered CTC head), when the sets have them
    [ -f "${raw}/${train_set}/words.ctm" ] && rttm_args+=(--train_ctm "${raw}/${train_set}/words.ctm")
    [ -f "${raw}/${valid_set}/words.ctm" ] && rttm_args+=(--valid_ctm "${raw}/${valid_set}/words.ctm")
    # shellcheck disable=SC2086
    ${cuda_cmd} --gpu "${ngpu}" "${pre_dir}/pretrain.log" \
      ${python} -m espnet_tagspeech.bin.pretrain --config "${pretrain_config}" \
        --train_dir "${raw}/${train_set}_cuts" --valid_dir "${raw}/${valid_set}_cuts" \
        "${rttm_args[@]+"${rttm_args[@]}"}" \
        --model_config "${train_config}" \
        --tokenizer "${tok_dir}/tokenizer.model" --output_dir "${pre_dir}" --ngpu "${ngpu}" \
        ${pretrain_args}
  else
    log "Stage 5: no --pretrain_config: skipped"
  fi
fi

stream_dir=${dumpdir}/streams_${tag}
data_args() {  # data_args <train|valid> <cuts dir> [<dumped streams dir>]
  if [ $# -ge 3 ]; then
    for n in semantic_feats speaker_feats ctc_topk_ids ctc_topk_probs; do
      [ -f "$3/${n}.scp" ] && echo "--$1_data_path_and_name_and_type $3/${n}.scp,${n},kaldi_ark"
    done
  else
    echo "--$1_data_path_and_name_and_type $2/wav.scp,speech,sound"
  fi
  echo "--$1_data_path_and_name_and_type $2/text,text,text"
}

# ----------------------------------------------------------------------------- 6 stats
if run_stage 6; then
  log "Stage 6: collect stats -> ${stats_dir}"
  need "${raw}/${train_set}_cuts/text" 3
  [ "${tokenizer_type}" != sentencepiece ] || need "${tok_dir}/tokenizer.model" 4
  # shellcheck disable=SC2046,SC2086
  ${train_cmd} "${stats_dir}/stats.log" \
    ${python} -m espnet_tagspeech.bin.tagspeech_train --collect_stats true \
      --config "${train_config}" "${tok_args[@]}" --ngpu 0 --num_workers 0 \
      --use_preprocessor true --output_dir "${stats_dir}" \
      $(data_args train "${raw}/${train_set}_cuts") $(data_args valid "${raw}/${valid_set}_cuts") \
      --train_shape_file "${raw}/${train_set}_cuts/wav.scp" \
      --valid_shape_file "${raw}/${valid_set}_cuts/wav.scp" ${train_args}
  if ${stream_cache}; then
    init_args=()
    [ -n "${pretrain_config}" ] && init_args=(--init_param "${pre_dir}/init.pth")
    for x in "${train_set}" "${valid_set}"; do
      log "Stage 6: frozen encoders' outputs of ${x} -> ${stream_dir}/${x}"
      ${train_cmd} "${stream_dir}/${x}/dump.log" \
        ${python} -m espnet_tagspeech.bin.dump_streams --train_config "${train_config}" \
          "${init_args[@]+"${init_args[@]}"}" --tokenizer "${tok_dir}/tokenizer.model" \
          --data_dir "${raw}/${x}_cuts" --out_dir "${stream_dir}/${x}" \
        || die "dumping the streams of ${x} failed: see ${stream_dir}/${x}/dump.log"
    done
  fi
fi

# ----------------------------------------------------------------------------- 7 training
if run_stage 7; then
  log "Stage 7: training -> ${exp} (log: ${exp}/train.log)"
  need "${stats_dir}/train/speech_shape" 6
  mkdir -p "${exp}"
  pretrain_init=()
  if [ -n "${pretrain_config}" ]; then
    need "${pre_dir}/init.pth" 5
    pretrain_init=(--init_param "${pre_dir}/init.pth")
  fi
  # A script that re-runs exactly this stage (ESPnet habit).
  printf '#!/usr/bin/env bash\n# Re-run training of this experiment.\ncd "%s"\n%s --stage 7 --stop_stage 7\n' \
    "$(pwd)" "${run_args}" > "${exp}/run.sh"
  chmod +x "${exp}/run.sh"
  train_streams=(); valid_streams=()
  if ${stream_cache}; then
    need "${stream_dir}/${train_set}/feats_info.yaml" 6
    need "${stream_dir}/${valid_set}/feats_info.yaml" 6
    train_streams=("${stream_dir}/${train_set}"); valid_streams=("${stream_dir}/${valid_set}")
  fi
  # shellcheck disable=SC2046,SC2086
  ${cuda_cmd} --gpu "${ngpu}" "${exp}/train.log" \
    ${python} -m espnet_tagspeech.bin.tagspeech_train \
      --config "${train_config}" "${tok_args[@]}" "${pretrain_init[@]}" \
      --ngpu "${ngpu}" --use_preprocessor true --resume true --output_dir "${exp}" \
      $(data_args train "${raw}/${train_set}_cuts" "${train_streams[@]+"${train_streams[@]}"}") \
      $(data_args valid "${raw}/${valid_set}_cuts" "${valid_streams[@]+"${valid_streams[@]}"}") \
      --train_shape_file "${stats_dir}/train/speech_shape" \
      --train_shape_file "${stats_dir}/train/text_shape" \
      --valid_shape_file "${stats_dir}/valid/speech_shape" \
      --valid_shape_file "${stats_dir}/valid/text_shape" ${train_args} \
    || die "training failed: see ${exp}/train.log (a re-run with --stage 7 resumes)"
fi

case ${test_segmentation} in
  vad) cuts_suffix=_vad_cuts ;;
  oracle) cuts_suffix=_cuts ;;
  *) die "--test_segmentation must be vad or oracle, got '${test_segmentation}'" ;;
esac
case ${link} in ""|model|fbank|resemblyzer|none) ;;
  *) die "--link must be model, fbank, resemblyzer or none, got '${link}'" ;;
esac
model_file=${exp}/${inference_model}
# The settings stage 3 cut the test recordings with (segment_recordings records them in the
# dir it writes): the first test set's, what stage 10 packs for whole-recording decoding.
segment_record=""
if [ "${test_segmentation}" = vad ]; then
  for x in ${test_sets}; do
    [ -f "${raw}/${x}_vad_cuts/segment.yaml" ] && { segment_record=${raw}/${x}_vad_cuts/segment.yaml; break; }
  done
fi
# A decode dir (and its plots, exp/images/<dir>) is named by everything that changes its
# output: decode_<config>_<link config>_<segmentation>_<model>_<hash>, the hash over the two
# configs' contents, the windows' settings and the extra options (editing
# conf/link_speakers.yaml, or cutting the test sets with other windows, gives a new dir).
for f in "${inference_config}" "${link_config}" "${segment_config}"; do
  [ -z "${f}" ] || [ -f "${f}" ] || die "no such config file: ${f}"
done
inf_tag=$(basename "${inference_config:-default}" .yaml)
inf_tag=decode_${inf_tag#decode_}
[ -n "${link_config}" ] && inf_tag+=_$(basename "${link_config}" .yaml)
inf_tag+=_${test_segmentation}_$(basename "${inference_model}" .pth)
inf_tag+=_$( { for f in "${inference_config}" "${link_config}" "${segment_record}"; do
                [ -z "${f}" ] || cat "${f}"; echo "|"; done
              printf '%s|%s' "${inference_args}" "${merge_args}"; [ -z "${link}" ] || printf '|%s' "${link}"; } \
            | md5sum | cut -c1-8)

# decode_pass <dir> [merge_decodes args] [-- tagspeech_inference args]: decode the cuts of
# ${cuts} into <dir>/logdir and link them into <dir> (one pass of stage 8)
decode_pass() {
  local pdir=$1 _nj n d j; shift
  local merge_extra=() inf_extra=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do merge_extra+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  inf_extra=("$@")
  mkdir -p "${pdir}/logdir"
  n=$(wc -l < "${cuts}/wav.scp")
  _nj=$(( inference_nj < n ? inference_nj : n ))
  # jobs of an earlier decoding with more jobs would be merged too; the others resume
  # from their journals (a killed decoding re-decodes only the keys it lacks)
  for d in "${pdir}"/logdir/output.*; do
    [ -d "${d}" ] && [ "${d##*.}" -gt "${_nj}" ] && rm -rf "${d}"
  done
  keys=()
  for j in $(seq "${_nj}"); do keys+=("${pdir}/logdir/keys.${j}.scp"); done
  utils/split_scp.sh "${cuts}/wav.scp" "${keys[@]}"
  conf_args=()
  [ -n "${inference_config}" ] && conf_args=(--config "${inference_config}")
  # the n-gram LM of stage 4, for CTC beam search (used when the config gives lm_weight)
  [ -f "${tok_dir}/ngram.json" ] && conf_args+=(--ngram_file "${tok_dir}/ngram.json")
  # local CPU jobs share this machine's cores (2 jobs x all threads each ran 4x slower)
  if ! ${gpu_inference} && [[ ${decode_cmd} == *run.pl* ]]; then
    _threads=$(( $(nproc) / _nj )); [ "${_threads}" -ge 1 ] || _threads=1
    conf_args+=(--num_threads "${_threads}")
  fi
  # shellcheck disable=SC2086
  ${decode_cmd} --gpu "${_gpu}" JOB=1:"${_nj}" "${pdir}/logdir/inference.JOB.log" \
    ${python} -m espnet_tagspeech.bin.tagspeech_inference "${conf_args[@]}" \
      --ngpu "${_gpu}" --batch_size "${batch_size}" \
      --data_path_and_name_and_type "${cuts}/wav.scp,speech,sound" \
      --key_file "${pdir}/logdir/keys.JOB.scp" \
      --train_config "${exp}/config.yaml" --model_file "${model_file}" \
      --output_dir "${pdir}/logdir/output.JOB" ${inference_args} "${inf_extra[@]}" \
    || die "decoding failed: see ${pdir}/logdir/inference.*.log"
  # Cut-local speakers -> recording speakers (chunk-and-cluster), recording-time RTTM/SegLST.
  # shellcheck disable=SC2086
  # the model's own speaker stream is read when the link config (or --link) asks for it
  link_args=(--train_config "${exp}/config.yaml" --model_file "${model_file}")
  [ -n "${link}" ] && link_args+=(--link "${link}")
  [ -n "${link_config}" ] && link_args+=(--config "${link_config}")
  py merge_decodes --out_dir "${pdir}" --cut2reco "${cuts}/cut2reco" \
    --wav_scp "${raw}/${x}/wav.scp" "${link_args[@]}" "${merge_extra[@]}" ${merge_args} "${pdir}"/logdir/output.*
}


# ----------------------------------------------------------------------------- 8 decoding
if run_stage 8; then
  [ -f "${model_file}" ] || model_file=${exp}/latest.pth
  need "${model_file}" 7
  _gpu=0; ${gpu_inference} && _gpu=1
  # the decoding's settings as its jobs will read them (the yaml, then --inference_args): a bad
  # one stops here; speaker_voice_passes / speaker_voice_from say how stage 8 runs
  # shellcheck disable=SC2086
  _ngram=(); [ -f "${tok_dir}/ngram.json" ] && _ngram=(--ngram_file "${tok_dir}/ngram.json")
  dec_settings=$(py tagspeech_inference --print_config ${inference_config:+--config "${inference_config}"} \
                   "${_ngram[@]}" ${inference_args}) || die "bad decoding settings (--inference_config / --inference_args)"
  voice_passes=$(sed -n 's/^speaker_voice_passes: //p' <<< "${dec_settings}")
  voice_from=$(sed -n 's/^speaker_voice_from: //p' <<< "${dec_settings}")
  for x in ${test_sets}; do
    dir=${exp}/${inf_tag}/${x}
    cuts=${raw}/${x}${cuts_suffix}
    log "Stage 8: decoding ${x} (${test_segmentation} cuts) with ${inference_nj} jobs -> ${dir}"
    need "${cuts}/wav.scp" 3 "stage 3 cuts the sets --test_sets names: --stage 3 --stop_stage 3 --test_sets \"${x}\""
    if [ "${test_segmentation}" = vad ] && [ -f "${cuts}/segment.yaml" ]; then
      # shellcheck disable=SC2086
      py segment_recordings --print_config "${seg_opts[@]}" ${vad_opts} | cmp -s - "${cuts}/segment.yaml" \
        || die "${cuts} was cut with other settings than --segment_config '${segment_config}'" \
               "--vad_opts '${vad_opts}' give (${cuts}/segment.yaml): cut it again with --stage 3 --stop_stage 3"
    fi
    if [ "${voice_passes}" = 2 ]; then
      # a first decoding, linked; its speakers' voices weigh the second decoding's speaker blocks
      decode_pass "${dir}/pass1" --voices_from "${voice_from}"
      # (the voices change the speaker block alone: each cut's text block is kept from pass 1)
      decode_pass "${dir}" -- --recording_voices "${dir}/pass1/voices.json" --cut2reco "${cuts}/cut2reco" \
        --keep_text_from "${dir}/pass1/text"
    else
      decode_pass "${dir}"
    fi
    echo "${system:-${inf_tag}}" > "${dir}/system"
    seg_desc=${test_segmentation}
    if [ -f "${cuts}/segment.yaml" ]; then  # the windows' settings, kept with the decoding
      cp "${cuts}/segment.yaml" "${dir}/segment.yaml"
      seg_desc+=" ($(sed -n 's/^segmenter: //p' "${cuts}/segment.yaml"), windows <= $(sed -n 's/^max_window: //p' "${cuts}/segment.yaml") s)"
    fi
    echo "${seg_desc}" > "${dir}/segmentation"
  done
fi

# ----------------------------------------------------------------------------- 9 scoring
if run_stage 9; then
  for x in ${test_sets}; do
    dir=${exp}/${inf_tag}/${x}
    need "${dir}/rttm" 8
    log "Stage 9: scoring ${x} -> ${dir}/RESULTS.md, plots -> ${exp}/images/${inf_tag}/${x}"
    py tagspeech_results --decode_dir "${dir}" --ref_dir "${raw}/${x}" --system "$(cat "${dir}/system")" \
      --config "${exp}/config.yaml" --out "${dir}/RESULTS.md" --dataset "${x}" > /dev/null
    # shellcheck disable=SC2046
    py plot_timeline --ref "${raw}/${x}/rttm" --hyp "${dir}/rttm" --out_dir "${exp}/images/${inf_tag}/${x}" \
      --recordings $(cut -d' ' -f1 "${raw}/${x}/wav.scp" | head -n "${max_plots}")
  done
  # One table for the experiment: a row per data set and system, whichever sets this run
  # scored, each from the decoding of it scored last (a tuning run under the same --system
  # holds the row until the recipe's own decoding is scored again); in the order scored.
  scored=(); declare -A latest=()
  for r in $(ls -1tr "${exp}"/decode_*/*/RESULTS.md); do
    sub=$(dirname "${r}")
    [ -f "${sub}/system" ] && [ -d "${raw}/$(basename "${sub}")" ] || continue
    scored+=("${sub}"); latest["$(basename "${sub}")|$(cat "${sub}/system")"]=${sub}
  done
  dec_dirs=(); ref_dirs=(); sets=(); systems=()
  for sub in "${scored[@]}"; do
    x=$(basename "${sub}"); name=$(cat "${sub}/system")
    [ "${latest["${x}|${name}"]}" = "${sub}" ] || continue
    dec_dirs+=("${sub}"); ref_dirs+=("${raw}/${x}"); sets+=("${x}"); systems+=("${name}")
  done
  py tagspeech_results --decode_dir "${dec_dirs[@]}" --ref_dir "${ref_dirs[@]}" \
    --dataset "${sets[@]}" --system "${systems[@]}" --config "${exp}/config.yaml" \
    --out "${exp}/RESULTS.md" --title "${tag}"
fi

# ----------------------------------------------------------------------------- 10 pack
packed=${exp}/${tag}_packed.zip
if run_stage 10; then
  [ -f "${model_file}" ] || model_file=${exp}/latest.pth
  need "${model_file}" 7
  log "Stage 10: pack -> ${packed}"
  extra=()
  [ -f "${tok_dir}/tokenizer.model" ] && extra+=(--tokenizer "${tok_dir}/tokenizer.model")
  [ -f "${tok_dir}/ngram.json" ] && extra+=(--ngram "${tok_dir}/ngram.json")
  [ -f "${exp}/RESULTS.md" ] && extra+=(--results "${exp}/RESULTS.md")
  [ -d "${exp}/images" ] && extra+=(--images "${exp}/images")
  [ -n "${inference_config}" ] && extra+=(--inference_config "${inference_config}")
  [ -n "${link_config}" ] && extra+=(--link_config "${link_config}")
  # the windows the results were measured on, else the segmentation yaml given
  if [ -n "${segment_record}" ]; then extra+=(--segment_config "${segment_record}")
  elif [ -n "${segment_config}" ]; then extra+=(--segment_config "${segment_config}"); fi
  py pack --train_config "${exp}/config.yaml" --model_file "${model_file}" \
    "${extra[@]}" --outpath "${packed}"
fi

# ----------------------------------------------------------------------------- 11 upload
if run_stage 11; then
  need "${packed}" 10
  log "Stage 11: upload ${packed} ${hf_repo:+to ${hf_repo}}"
  py upload_model --packed "${packed}" --exp_dir "${exp}" --hf_repo "${hf_repo}" \
    --recipe "$(basename "$(dirname "$(pwd)")")"
fi

log "Successfully finished stages ${stage}-${stop_stage} in ${SECONDS} s"
