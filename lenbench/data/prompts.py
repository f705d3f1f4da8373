"""How a problem is shown to the policy: its tokenizer's chat template when it has one.

Datasets hold plain prompts (question + instruction). A model with a chat template (instruct and
reasoning models) is prompted the way it was trained: the prompt as one user message, followed by
the assistant turn's opening. A tokenizer without one (the testbed's) gets the plain prompt. Training
and evaluation turn prompt texts into token ids the same way (`encode_prompts`).
"""

from __future__ import annotations

from dataclasses import replace

from datasets import Dataset

PLAN_SENTENCE = ("I will answer the question with", "tokens.")
"""LAPO's plan sentence around its number n, as a real model writes it: "I will answer the question with
n tokens." (TaskData.plan; a dataset whose models write it otherwise, like the testbed's, sets its own)."""


def encode_prompts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of prompt texts, the one encoding of training (lenbench's GRPOTrainer) and evaluation
    (both backends): no special tokens added, since a chat-templated prompt already holds its BOS (a
    tokenizer that adds one, like R1-Distill's, would otherwise put two)."""
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def chat_prompt(tokenizer, text: str) -> str:
    """`text` as a user message in the tokenizer's chat template, ready for the assistant's reply."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


def model_prompts(data, tokenizer, use_chat_template: bool = True):
    """TaskData whose `prompt` columns are formatted for this tokenizer (unchanged without a template)."""
    if not use_chat_template or not getattr(tokenizer, "chat_template", None):
        return data

    def formatted(split: Dataset | None) -> Dataset | None:
        if split is None:
            return None
        return split.map(lambda row: {"prompt": chat_prompt(tokenizer, row["prompt"])}, desc="chat template")

    return replace(data, train=formatted(data.train), eval=formatted(data.eval))
