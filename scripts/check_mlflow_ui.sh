#!/bin/bash
# Look at lenbench runs in the real MLflow UI, headless: which view an experiment opens in (training
# runs or GenAI traces) and whether the runs table's Dataset column is filled. Not part of CI.
#
#   bash scripts/check_mlflow_ui.sh [DIR]     # default /tmp/uicheck; needs chromium (apt-get install chromium)
#
# Makes a store with micro base and grpo runs in DIR (kept if DIR/mlflow.db exists), serves it with
# `mlflow server`, and writes DIR/{landing,runs,training}.{html,png,txt} (the DOM, a screenshot, the
# page text) of the experiment's landing page, its runs page, and its landing page in the training view.
set -euo pipefail
dir=${1:-/tmp/uicheck}
py=${PYTHON:-.venv/bin/python}
port=${PORT:-5077}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p "$dir"
if [ ! -f "$dir/mlflow.db" ]; then
  "$py" -m lenbench.run -m +experiment=micro hydra/launcher=basic method=base,grpo \
    "tracking.uri=sqlite:///$dir/mlflow.db" "hydra.sweep.dir=$dir/multirun" > "$dir/runs.log" 2>&1 \
    || { tail -20 "$dir/runs.log"; exit 1; }
fi
"$py" -m mlflow server --backend-store-uri "sqlite:///$dir/mlflow.db" --host 127.0.0.1 --port "$port" \
  --workers 1 > "$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
api="http://127.0.0.1:$port/api/2.0/mlflow"
for _ in $(seq 120); do curl -sf "$api/experiments/search?max_results=1" > /dev/null && break; sleep 1; done
id=$(curl -sf "$api/experiments/get-by-name?experiment_name=lenbench" | "$py" -c \
  'import json,sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])')
kind=$(curl -sf "$api/experiments/get?experiment_id=$id" | "$py" -c \
  'import json,sys; t=json.load(sys.stdin)["experiment"].get("tags", []); print({x["key"]: x["value"] for x in t}.get("mlflow.experimentKind", "not set"))')
echo "experiment lenbench: id $id, mlflow.experimentKind: $kind"
# MLflow 3.17's UI shows an experiment in the view of its sidebar switch (GenAI / Model training),
# which the browser remembers and `?workflowType=machine_learning` sets; a fresh browser starts on GenAI.
base="http://127.0.0.1:$port/#/experiments/$id"
flags=(--headless --disable-gpu --no-sandbox --virtual-time-budget=20000 --window-size=1600,1000)
text='import re, sys
html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", open(sys.argv[1]).read())
print(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())'
for page in landing runs training; do
  case $page in
    landing) url=$base ;;
    runs) url=$base/runs ;;
    training) url="$base?workflowType=machine_learning" ;;
  esac
  chromium "${flags[@]}" --dump-dom "$url" > "$dir/$page.html" 2> /dev/null
  chromium "${flags[@]}" --screenshot="$dir/$page.png" "$url" > /dev/null 2>&1
  "$py" -c "$text" "$dir/$page.html" > "$dir/$page.txt"
  echo "$page ($url): $(cut -c1-700 "$dir/$page.txt")"
done
