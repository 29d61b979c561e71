#!/bin/bash
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@300
# $FILENAME
# Written by sample_factory.launcher from its bundled template sbatch_timeout.sh (`--slurm_sbatch_template=sbatch_timeout.sh`;
# partition '$PARTITION', $GPU GPU(s), $CPU CPUs, time limit '$TIMEOUT').
#
# Requeue on timeout: 300 s before the job's time limit Slurm sends SIGUSR1 to this script (--signal=B:USR1@300).
# The script then sends SIGTERM to the training, which stops its workers and saves a checkpoint (as on Ctrl+C),
# waits for it, and requeues this job with `scontrol requeue`; the requeued run resumes from that checkpoint
# (--restart_behavior=resume, the default) and appends to the same output file (--open-mode=append). Without a time
# limit (--slurm_timeout=0) the signal never comes and the script just runs the training. The cluster must allow
# requeueing (--requeue above; `scontrol show config | grep JobRequeue`).

stop_and_requeue() {
    echo "sbatch_timeout.sh: time limit near, stopping the training (SIGTERM) and requeueing job ${SLURM_JOB_ID}"
    kill -TERM "${train_pid}" 2>/dev/null
    wait "${train_pid}"
    scontrol requeue "${SLURM_JOB_ID}"
    exit 0
}
trap stop_and_requeue USR1

$CMD &
train_pid=$!
wait "${train_pid}"
