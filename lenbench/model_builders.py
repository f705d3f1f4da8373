"""Random-init causal LMs and their tokenizers: the one builder behind the testbed base model and
the tiny real-architecture model.

`causal_lm` builds a seeded random-init Llama or Qwen2 sized by its arguments; `fast_tokenizer`
wraps a `tokenizers` Tokenizer as a left-padding PreTrainedTokenizerFast. The testbed's base model
(lenbench.testbed.base_model) and word-level tokenizer (lenbench.testbed.tokenizer) are built with
them, and so is the tiny model below.

The tiny model (`build_tiny_model`; command: `python -m lenbench.bench --build-tiny DIR --data FILE`)
is for CPU checks of the real-model code paths: a byte-level BPE tokenizer (`tokenizers`) trained on
the problem texts of a math data file (parquet with a chat-list `prompt` column: the user turn;
json/jsonl: the `problem` field), with bos/eos/pad tokens and a small chat template, and a
random-init Qwen2ForCausalLM (or LlamaForCausalLM) of tiny size, both saved with save_pretrained,
so `model=local model.path=DIR` runs the same code paths as a real checkpoint (AutoModel /
AutoTokenizer with local_files_only, chat template, left padding). It knows no maths: accuracy is
~0 and completions run to the length limit. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lenbench.errors import ConfigError

ARCHS = ("qwen2", "llama")
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
UNK = "<|unk|>"  # never produced by byte-level BPE; named so that no loader invents one outside the vocabulary
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIALS = (PAD, BOS, EOS, UNK, *ROLE_TOKENS)
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def causal_lm(arch: str, tokenizer, *, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int,
              max_positions: int, seed: int):
    """Random-init causal LM of `arch` (ARCHS) over `tokenizer`'s vocabulary, tied embeddings, seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    classes = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}
    config_class, model_class = classes[arch]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return model_class(config)


def fast_tokenizer(core, *, bos: str, eos: str, pad: str, unk: str, extra_specials: tuple[str, ...] = (),
                   model_max_length: int):
    """`core` (a tokenizers.Tokenizer) as a PreTrainedTokenizerFast that pads on the left."""
    from transformers import PreTrainedTokenizerFast

    extra = {"additional_special_tokens": list(extra_specials)} if extra_specials else {}
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
                                   padding_side="left", model_max_length=model_max_length, **extra)


def problem_texts(path: Path) -> list[str]:
    """Problem statements of a math data file: parquet (user turn of the chat-list `prompt` column,
    else a `problem` column), json (a list of records with `problem`) or jsonl."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        if "prompt" in frame.columns:
            return [
                "\n".join(m["content"] for m in messages if m["role"] == "user") for messages in frame["prompt"]
            ]
        return [str(text) for text in frame["problem"]]
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        records = json.loads(path.read_text())
    return [str(record["problem"]) for record in records]


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained on `texts` (any NFC text round-trips), with the chat template.

    The pipeline is Qwen2's (NFC, Qwen's pre-tokenizer regex: single digits, then byte level): for
    model_type qwen2, transformers' AutoTokenizer loads Qwen2Tokenizer, which rebuilds exactly this
    pipeline around the saved vocabulary and merges, so loaded and trained tokenization agree.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = fast_tokenizer(core, bos=BOS, eos=EOS, pad=PAD, unk=UNK, extra_specials=ROLE_TOKENS,
                               model_max_length=1_000_000)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(data: Path, out: Path, *, arch: str = "qwen2", vocab_size: int = 4096, hidden: int = 64,
                     layers: int = 2, heads: int = 4, kv_heads: int = 2, intermediate: int = 256,
                     max_positions: int = 2048, seed: int = 0) -> dict:
    """Train the tokenizer on `data`'s problems, build the model, save both to `out`; returns what was written."""
    if arch not in ARCHS:
        raise ConfigError(f"--arch={arch!r} is not a known option; allowed: {', '.join(ARCHS)}")
    if hidden % heads or heads % kv_heads:
        raise ConfigError(f"--heads={heads} must divide --hidden={hidden} and --kv-heads={kv_heads} must divide "
                          "--heads")
    start = time.perf_counter()
    texts = problem_texts(data)
    tokenizer = train_tokenizer(texts, vocab_size)
    model = causal_lm(arch, tokenizer, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                      intermediate=intermediate, max_positions=max_positions, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "out": str(out),
        "arch": arch,
        "params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "texts": len(texts),
        "data": str(data),
        "seconds": time.perf_counter() - start,
    }
