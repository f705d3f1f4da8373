#!/bin/bash
# Kill a job with -9 once a checkpoint is written, then resume it (trainer.resume=auto) in the same directory.
# usage: scripts/kill_and_resume.sh <out dir> <checkpoint, relative to the job dir, or "none"> <overrides...>
#   scripts/kill_and_resume.sh /tmp/kr/lead-ck6 trainer/checkpoint-6 method=lead trainer.save_steps=3 ...
# "none" runs the job uninterrupted (the reference). Runs are recorded in the overrides' tracking.uri.
set -u
dir=$1; checkpoint=$2; shift 2
py=${PYTHON:-.venv/bin/python}
rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
if [ "$checkpoint" = none ]; then
  exec $py -m lenbench.run hydra.run.dir="$dir" "$@"
fi
setsid $py -m lenbench.run hydra.run.dir="$dir" "$@" > "$dir.killed.log" 2>&1 &
pid=$!
until [ -f "$dir/$checkpoint/lenbench_method_state.json" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.2; done
kill -9 -- -$pid 2>/dev/null; wait $pid 2>/dev/null
echo "killed after: $(cd "$dir" && ls -d */checkpoint-* */*/checkpoint-* 2>/dev/null | tr '\n' ' ')"
exec $py -m lenbench.run hydra.run.dir="$dir" trainer.resume=auto "$@"
