"""Supervised fine-tuning with TRL's SFTTrainer (used to build the testbed base model)."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import SFTConfig, SFTTrainer


def train_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    output_dir: Path,
    *,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
    lr_scheduler_type: str,
    warmup_steps: float,
    weight_decay: float,
    train_sampling: str,
    completion_only_loss: bool,
) -> dict[str, float]:
    """SFT on prompt/completion pairs (the ModelConfig.sft_* settings); returns the final training metrics."""
    args = SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type=lr_scheduler_type,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        bf16=False,
        gradient_checkpointing=False,
        max_length=max_length,
        completion_only_loss=completion_only_loss,
        train_sampling_strategy=train_sampling,
        seed=seed,
        data_seed=seed,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    return {key: float(value) for key, value in result.metrics.items() if isinstance(value, (int, float))}
