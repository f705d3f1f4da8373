"""The default testbed base model ships with the repository: it loads and matches the config hash."""

import json

import pytest

from lenbench.config import load_run_config
from lenbench.testbed.base_model import MARKER, SHIPPED_DIR, base_model_dir, cache_key, check_cached_model


def test_the_default_settings_use_the_shipped_model(compose):
    run = load_run_config(compose())
    key = cache_key(run.dataset, run.model)
    shipped = SHIPPED_DIR / key
    assert (shipped / MARKER).is_file(), f"no shipped model for the default settings (hash {key}); rebuild it " \
                                         "with `python -m lenbench.testbed.build --ship`"
    assert base_model_dir(run.dataset, run.model) == shipped
    check_cached_model(shipped)  # config, tokenizer and weights all read back
    marker = json.loads((shipped / MARKER).read_text())
    assert marker["key"] == key
    # the settings recorded at build time hash to the same key (the files were built from these settings)
    from lenbench.config import DatasetConfig, ModelConfig

    built = cache_key(DatasetConfig(**_known(DatasetConfig, marker["dataset"])),
                      ModelConfig(**_known(ModelConfig, marker["model"])))
    assert built == key
    size = sum(path.stat().st_size for path in SHIPPED_DIR.rglob("*") if path.is_file())
    assert size <= 20 * 2**20, f"shipped models take {size / 2**20:.1f} MB (limit 20 MB)"
    assert [path.name for path in SHIPPED_DIR.iterdir() if path.is_dir()] == [key]  # nothing stale ships


def _known(cls, values: dict) -> dict:
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names and not isinstance(v, dict)}


def test_a_changed_setting_builds_into_the_cache_instead(compose):
    run = load_run_config(compose("model.sft_seed=1"))
    path = base_model_dir(run.dataset, run.model)
    assert not path.is_relative_to(SHIPPED_DIR)
    assert path.name == cache_key(run.dataset, run.model) and path.parent.name == "testbed"


def test_the_shipped_model_loads_and_generates(compose):
    import torch

    from lenbench.models import load_model

    run = load_run_config(compose())
    model, tokenizer = load_model(base_model_dir(run.dataset, run.model))
    prompt = tokenizer("compute 3 + 4 <think>", return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**prompt, do_sample=False, max_new_tokens=20, pad_token_id=tokenizer.pad_token_id)
    text = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert text.split()[:6] == ["3", "+", "4", "=", "7", ";"]  # greedy knows its arithmetic


@pytest.mark.parametrize("override, message", [
    ("dataset.p_fix=2", "dataset.p_fix=2.0 is out of range; allowed: in [0.0, 1.0]"),
    ("dataset.nope=1", "unknown key dataset.nope: Key 'nope' not in 'DatasetConfig'; fields of 'dataset': name, "),
    ("model=local", "model.path must be set when model.source=path"),
])
def test_build_command_bad_input_is_one_line_and_builds_nothing(override, message, capsys, tmp_path, monkeypatch):
    from lenbench.testbed import build

    monkeypatch.setenv("LENBENCH_CACHE", str(tmp_path))
    assert build.main([override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lenbench build: ") and message in err and "\n" not in err
    assert not any(tmp_path.iterdir())


def test_build_command_rebuilds_a_cache_entry(compose, tmp_path, monkeypatch, capsys):
    from lenbench.testbed import build

    monkeypatch.setenv("LENBENCH_CACHE", str(tmp_path))
    overrides = ["model=arith_micro", "dataset=arith_micro"]
    assert build.main(overrides) == 0
    run = load_run_config(compose(*overrides))
    target = base_model_dir(run.dataset, run.model)
    assert target.parent == tmp_path / "testbed"
    check_cached_model(target)
    first = (target / MARKER).stat().st_mtime_ns
    assert build.main(overrides) == 0  # an existing entry is replaced, not reused
    assert (target / MARKER).stat().st_mtime_ns != first


SFT_KNOBS = ["model.sft_lr_scheduler_type=linear", "model.sft_warmup_steps=3", "model.sft_weight_decay=0.0",
             "model.sft_train_sampling=random", "model.sft_completion_only_loss=false"]


@pytest.mark.parametrize("knob", SFT_KNOBS)
def test_each_sft_setting_keys_its_own_cache_entry(compose, knob):
    default = load_run_config(compose())
    changed = load_run_config(compose(knob))
    assert cache_key(changed.dataset, changed.model) != cache_key(default.dataset, default.model)
    assert not base_model_dir(changed.dataset, changed.model).is_relative_to(SHIPPED_DIR)


def test_the_sft_settings_reach_trls_sft_config(compose, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import lenbench.train.sft as sft
    from lenbench.testbed.base_model import build

    seen = {}

    class RecordingTrainer:  # stands in for TRL's SFTTrainer: records its arguments, trains nothing
        def __init__(self, *, args, **_):
            seen["args"] = args

        def train(self):
            return SimpleNamespace(metrics={"train_loss": 0.0})

    monkeypatch.setattr(sft, "SFTTrainer", RecordingTrainer)
    run = load_run_config(compose("+experiment=micro", *SFT_KNOBS))
    build(run.dataset, run.model, tmp_path / "model")
    args = seen["args"]
    assert (args.lr_scheduler_type.value, args.warmup_steps, args.weight_decay) == ("linear", 3, 0.0)
    assert (args.train_sampling_strategy, args.completion_only_loss) == ("random", False)
