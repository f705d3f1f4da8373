"""A tiny random-init model of a real architecture (Qwen2 or Llama) for CPU tests, and a tokens/s bench.

    python -m lenbench.tiny_model --data ../shared/data/benchmarks/math_train_l3to5.parquet --out DIR
        [--arch qwen2|llama] [--vocab-size 4096] [--hidden 64 --layers 2 --heads 4 --kv-heads 2
         --intermediate 256 --max-positions 2048] [--seed 0]
    python -m lenbench.tiny_model --bench DIR [--batch 8 --new-tokens 64 --repeats 3 --threads N]

Build: trains a byte-level BPE tokenizer (`tokenizers`) on the problem texts of a math data file
(parquet with a chat-list `prompt` column: the user turn; json/jsonl: the `problem` field), wraps
it as a PreTrainedTokenizerFast with bos/eos/pad tokens and a small chat template, builds a
random-init Qwen2ForCausalLM (or LlamaForCausalLM) of tiny size, and saves both with
save_pretrained, so `model=local model.path=DIR` runs the same code paths as a real checkpoint
(AutoModel/AutoTokenizer with local_files_only, chat template, left padding). It knows no maths:
accuracy is ~0 and completions run to the length limit. Deterministic for a given --seed.

Bench: tokens/s of the transformers generate path on a fixed batch (greedy, exactly --new-tokens
tokens per row), on CPU and, when available, on CUDA. CPU figures depend on torch threads and on
what else runs: two busy processes with 2 threads each on 2 cores run ~20x slower than 1 thread each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

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
ARCHS = ("qwen2", "llama")
BENCH_QUESTIONS = (
    "What is the sum of the first 10 positive integers?",
    "Solve for $x$: $2x + 3 = 11$.",
    "How many positive divisors does $36$ have?",
    "Compute $\\frac{3}{4} + \\frac{5}{6}$.",
    "What is the remainder when $2^{10}$ is divided by $7$?",
    "Find the area of a circle of radius $3$.",
    "Simplify $\\sqrt{50}$.",
    "What is $15\\%$ of $80$?",
)


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
    """Byte-level BPE trained on `texts` (any NFC text round-trips), as a PreTrainedTokenizerFast.

    The pipeline is Qwen2's (NFC, Qwen's pre-tokenizer regex: single digits, then byte level): for
    model_type qwen2, transformers' AutoTokenizer loads Qwen2Tokenizer, which rebuilds exactly this
    pipeline around the saved vocabulary and merges, so loaded and trained tokenization agree.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
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
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS),
        padding_side="left",
        model_max_length=1_000_000,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model(tokenizer, arch: str, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int,
               max_positions: int, seed: int):
    """Random-init causal LM of the given architecture, sized by the arguments, seeded."""
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


def build(data: Path, out: Path, *, arch: str = "qwen2", vocab_size: int = 4096, hidden: int = 64, layers: int = 2,
          heads: int = 4, kv_heads: int = 2, intermediate: int = 256, max_positions: int = 2048,
          seed: int = 0) -> dict:
    """Train the tokenizer, build the model, save both to `out`; returns what was written."""
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is not known; allowed: {', '.join(ARCHS)}")
    if hidden % heads or heads % kv_heads:
        raise ValueError(f"heads={heads} must divide hidden={hidden} and kv_heads={kv_heads} must divide heads")
    start = time.perf_counter()
    texts = problem_texts(data)
    tokenizer = train_tokenizer(texts, vocab_size)
    model = tiny_model(tokenizer, arch, hidden, layers, heads, kv_heads, intermediate, max_positions, seed)
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


def timed_generate(model, tokenizer, encoded, tokens: int) -> float:
    """Seconds of one greedy generate call producing exactly `tokens` new tokens per row."""
    import torch

    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(**encoded, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens,
                       pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(model_dir: Path, *, batch: int = 8, new_tokens: int = 64, repeats: int = 3,
          devices: list[str] | None = None) -> list[dict]:
    """tokens/s of greedy transformers generation, `batch` chat prompts x exactly `new_tokens` tokens
    (EOS suppressed), median of `repeats` timed runs after a warm-up; per device (cpu, cuda if any)."""
    import torch

    from lenbench.models import load_model

    devices = devices or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    results = []
    for device in devices:
        model, tokenizer = load_model(Path(model_dir), device=device)
        model.eval()
        questions = [BENCH_QUESTIONS[i % len(BENCH_QUESTIONS)] for i in range(batch)]
        prompts = [
            tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            for q in questions
        ]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        timed_generate(model, tokenizer, encoded, 4)  # warm-up
        seconds = statistics.median(timed_generate(model, tokenizer, encoded, new_tokens) for _ in range(repeats))
        results.append({
            "device": device,
            "threads": torch.get_num_threads() if device == "cpu" else None,
            "batch": batch,
            "prompt_tokens": int(encoded["input_ids"].shape[1]),
            "new_tokens": new_tokens,
            "seconds": seconds,
            "tokens_per_s": batch * new_tokens / seconds,
        })
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="math data file whose problem texts train the tokenizer")
    parser.add_argument("--out", type=Path, help="directory to write the model and tokenizer to")
    parser.add_argument("--arch", choices=ARCHS, default="qwen2")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--intermediate", type=int, default=256)
    parser.add_argument("--max-positions", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench", type=Path, metavar="DIR", help="time generation of the model in DIR instead")
    parser.add_argument("--batch", type=int, default=8, help="bench: prompts per generate call")
    parser.add_argument("--new-tokens", type=int, default=64, help="bench: generated tokens per prompt")
    parser.add_argument("--repeats", type=int, default=3, help="bench: timed runs (median reported)")
    parser.add_argument("--threads", type=int, help="bench: torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.bench:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        for row in bench(args.bench, batch=args.batch, new_tokens=args.new_tokens, repeats=args.repeats):
            threads = f", {row['threads']} threads" if row["threads"] else ""
            print(
                f"[lenbench] {row['device']}{threads}: {row['tokens_per_s']:.0f} tokens/s "
                f"(batch {row['batch']} x {row['new_tokens']} new tokens after {row['prompt_tokens']} prompt "
                f"tokens, {row['seconds']:.3f} s, median of {args.repeats})"
            )
        return
    if not (args.data and args.out):
        parser.error("--data and --out are required (or --bench DIR)")
    info = build(args.data, args.out, arch=args.arch, vocab_size=args.vocab_size, hidden=args.hidden,
                 layers=args.layers, heads=args.heads, kv_heads=args.kv_heads, intermediate=args.intermediate,
                 max_positions=args.max_positions, seed=args.seed)
    print(
        f"[lenbench] wrote {info['out']}: {info['arch']} model, {info['params']:,} params, vocab {info['vocab_size']} "
        f"(byte-level BPE on {info['texts']} problems of {info['data']}), {info['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
