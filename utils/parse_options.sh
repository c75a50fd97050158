#!/usr/bin/env bash
# Command-line options for bash scripts, Kaldi style.  Source it after setting
# the default of every option as a shell variable:
#
#   nj=4            # number of jobs
#   use_gpu=false   # true/false variables only take true or false
#   help_message="Usage: $0 [options] <in> <out>"
#   . utils/parse_options.sh
#
# Then `--nj 8`, `--nj=8`, `--use-gpu true` and `--use_gpu=true` all work; a
# dash in an option name stands for an underscore in the variable.  An option
# with no variable of that name is an error.  `--config FILE` (any number of
# times) sources FILE before the other options are applied, so the command
# line wins over it.  `--help` / `-h` prints $help_message and exits 0.
# Parsing stops at `--` or at the first argument that does not start with
# `--`; the positional arguments are left in "$@".

__po_die() {
    echo "$(basename -- "$0"): $*" >&2
    if [ -n "${help_message:-}" ]; then
        printf '%s\n' "$help_message" >&2
    fi
    exit 1
}

# Pass 1: config files, so that later options override what they set.  The
# scan follows the same grammar as pass 2 so that option values are skipped.
__po_args=("$@")
__po_i=0
while [ "$__po_i" -lt "${#__po_args[@]}" ]; do
    __po_arg=${__po_args[$__po_i]}
    __po_file=""
    case "$__po_arg" in
        -- | -h | --help) break ;;
        --config)
            [ $((__po_i + 1)) -lt "${#__po_args[@]}" ] || __po_die "option --config needs a file"
            __po_file=${__po_args[$((__po_i + 1))]}
            __po_i=$((__po_i + 2))
            ;;
        --config=*)
            __po_file=${__po_arg#--config=}
            __po_i=$((__po_i + 1))
            ;;
        --*=*) __po_i=$((__po_i + 1)) ;;
        --?*) __po_i=$((__po_i + 2)) ;;
        *) break ;;
    esac
    if [ -n "$__po_file" ]; then
        [ -f "$__po_file" ] || __po_die "config file '$__po_file' not found"
        # shellcheck disable=SC1090
        . "$__po_file"
    fi
done

# Pass 2: the options themselves.
while [ $# -gt 0 ]; do
    case "$1" in
        --)
            shift
            break
            ;;
        -h | --help)
            if [ -n "${help_message:-}" ]; then
                printf '%s\n' "$help_message"
            else
                echo "$(basename -- "$0"): no help message"
            fi
            exit 0
            ;;
        --config)
            [ $# -ge 2 ] || __po_die "option --config needs a file"
            shift 2
            continue
            ;;
        --config=*)
            shift
            continue
            ;;
        --*=*)
            __po_name=${1%%=*}
            __po_value=${1#*=}
            shift
            ;;
        --?*)
            __po_name=$1
            [ $# -ge 2 ] || __po_die "option $1 needs a value"
            __po_value=$2
            shift 2
            ;;
        *)
            break
            ;;
    esac
    __po_var=${__po_name#--}
    __po_var=${__po_var//-/_}
    case "$__po_var" in
        [A-Za-z_]*) ;;
        *) __po_die "invalid option '$__po_name'" ;;
    esac
    case "$__po_var" in
        *[!A-Za-z0-9_]*) __po_die "invalid option '$__po_name'" ;;
    esac
    if [ -z "${!__po_var+set}" ]; then
        __po_die "unknown option '$__po_name'"
    fi
    case "${!__po_var}" in
        true | false)
            case "$__po_value" in
                true | false) ;;
                *) __po_die "option $__po_name takes true or false, got '$__po_value'" ;;
            esac
            ;;
    esac
    printf -v "$__po_var" '%s' "$__po_value"
done

unset -v __po_args __po_i __po_arg __po_file __po_name __po_value __po_var
unset -f __po_die
true
