#!/usr/bin/env bash
# GPU check (issue 14): a random-init small Qwen2 on CUDA, bf16, gradient checkpointing; 3 training steps
# each of grpo, lapo, lead and iapo through lenbench's CLI, on generated math problems (nothing is
# downloaded); then LAPO's two stages with vLLM rollouts and vLLM evaluation (lenbench[gpu]; with
# GPU_CHECK_CPU=1, vLLM's CPU build). Prints each run's status and step times. One GPU, under 10 minutes.
#   bash scripts/gpu_check.sh [OUT]          # OUT defaults to $OUT, else /tmp/lenbench-gpu-check
#   GPU_CHECK_CPU=1 bash scripts/gpu_check.sh  # the same on CPU in float32 (checks the script itself)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/lenbench-gpu-check}}
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python
mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "${GPU_CHECK_CPU:-0}" = 1 ]; then
  device=(model.device=cpu model.dtype=float32 trainer.bf16=false)
  sizes=(--hidden 64 --layers 2 --heads 2 --kv-heads 1 --intermediate 64 --vocab-size 1024)  # head size 32: vLLM's CPU minimum
else
  "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU here")' || exit 1
  "$py" -c 'import torch; print("gpu:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
  device=(model.device=cuda model.dtype=bfloat16 trainer.bf16=true)
  sizes=(--hidden 256 --layers 4 --heads 4 --kv-heads 2 --intermediate 704 --vocab-size 4096)
fi

"$py" - "$out" <<'EOF'
import json, random, sys
from pathlib import Path
out, rng = Path(sys.argv[1]), random.Random(0)
def rows(n):
    for _ in range(n):
        a, b, x = rng.randint(2, 12), rng.randint(1, 30), rng.randint(1, 20)
        yield {"problem": f"Solve ${a}x + {b} = {a * x + b}$ for $x$.", "answer": str(x)}
for name, n in (("train", 64), ("eval", 8)):
    (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(n)))
EOF
[ -f "$out/qwen2/config.json" ] || "$py" -m lenbench.bench --build-tiny "$out/qwen2" --data "$out/train.jsonl" \
  "${sizes[@]}" --max-positions 1024 || exit 1

common=(model=local "model.path=$out/qwen2" "${device[@]}" trainer.gradient_checkpointing=true
        trainer.max_steps=3 trainer.prompts_per_step=4 trainer.num_generations=4
        trainer.max_completion_length=96 trainer.learning_rate=1e-5 dataset=file "dataset.train.path=$out/train.jsonl"
        "dataset.eval.path=$out/eval.jsonl" eval=micro "tracking.uri=sqlite:///$out/mlflow.db" tracking.experiment=gpu_check)
for name in grpo lapo lead iapo lapo_vllm; do
  method=${name%_vllm}
  extra=(trainer.use_vllm=false)
  [ "$method" = lapo ] && extra+=(method.discovery_steps=3 method.internalization_steps=3)
  [ "$name" = lapo_vllm ] && extra=(method.discovery_steps=3 method.internalization_steps=3 trainer.use_vllm=true
                                    trainer.vllm_gpu_memory_utilization=0.3 eval.backend=vllm eval.vllm_gpu_memory_utilization=0.5)
  start=$(date +%s)
  timeout 300 "$py" -m lenbench.run "method=$method" "${common[@]}" "${extra[@]}" "tracking.run_name=$name" \
    "hydra.run.dir=$out/runs/$name" > "$out/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - start )) s (log: $out/$name.log)"
  [ "$rc" = 0 ] || grep -E "Error|error:" "$out/$name.log" | tail -3
  [ "$name" = lapo_vllm ] && grep -E "vLLM (rollout|evaluation) engine" "$out/$name.log"
done

"$py" - "$out" <<'EOF'
import sys
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
client = mlflow.MlflowClient()
for _, run in mlflow.search_runs(experiment_names=["gpu_check"]).iterrows():
    times = [round(m.value, 3) for m in client.get_metric_history(run.run_id, "train/step_seconds")]
    print(f"{run['tags.mlflow.runName']}: {run.status}, step seconds {times}, eval accuracy {run.get('metrics.eval/accuracy')}")
EOF
