# Job backends. "local": utils/run.pl on this machine; "slurm": utils/slurm.pl with conf/slurm.conf.
cmd_backend=${cmd_backend:-local}

if [ "${cmd_backend}" = local ]; then
  export train_cmd="utils/run.pl"
  export cuda_cmd="utils/run.pl"
  export decode_cmd="utils/run.pl"
elif [ "${cmd_backend}" = slurm ]; then
  export train_cmd="utils/slurm.pl --config conf/slurm.conf"
  export cuda_cmd="utils/slurm.pl --config conf/slurm.conf"
  export decode_cmd="utils/slurm.pl --config conf/slurm.conf"
else
  echo "cmd.sh: unknown cmd_backend=${cmd_backend} (local or slurm)" >&2
  return 1
fi
