# Tasks for lenbench (`just --list`). Assumes `bash scripts/setup.sh` has run.
py := ".venv/bin/python"

# create .venv and install lenbench with dev tools
setup:
    bash scripts/setup.sh

# the main job: base and grpo on the default testbed (extra Hydra overrides after it)
run *ARGS:
    {{py}} -m lenbench.run -m method=base,grpo {{ARGS}}

# the test suite
test *ARGS:
    {{py}} -m pytest {{ARGS}}

# seconds per GRPO step and eval tokens/s on the default testbed (overrides after it)
bench *ARGS:
    {{py}} -m lenbench.bench {{ARGS}}

# rebuild the shipped testbed base model from scratch (lenbench/testbed/shipped/)
build-testbed *ARGS:
    {{py}} -m lenbench.testbed.build --ship {{ARGS}}

# what the testbed base model does, per difficulty, from the base runs in ./mlflow.db
phenomena *ARGS:
    {{py}} -m lenbench.testbed.phenomena {{ARGS}}

# lint
lint:
    {{py}} -m ruff check lenbench tests analysis hydra_plugins scripts

# the MLflow UI on the project's store: http://127.0.0.1:5000/#/experiments/1?workflowType=machine_learning (the runs view)
ui:
    {{py}} -m mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000
