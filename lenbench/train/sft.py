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
) -> dict[str, float]:
    """Completion-only SFT on prompt/completion pairs; returns the final training metrics."""
    args = SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        weight_decay=0.01,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        bf16=False,
        gradient_checkpointing=False,
        max_length=max_length,
        completion_only_loss=True,
        train_sampling_strategy="group_by_length",  # batches of similar length: far less padding
        seed=seed,
        data_seed=seed,
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    return {key: float(value) for key, value in result.metrics.items() if isinstance(value, (int, float))}
