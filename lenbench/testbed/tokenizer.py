"""Word-level tokenizer of the arith testbed, as a standard transformers tokenizer.

One token per whitespace-separated word: the testbed's words, LAPO's plan sentence, the numbers
0..number_max, and the specials. Saved and loaded with `save_pretrained`/`from_pretrained`
like any Hugging Face tokenizer, so every downstream component (TRL, generation, evaluation)
treats it as it would a real model's tokenizer.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from lenbench.model_builders import fast_tokenizer
from lenbench.testbed.arith import EOS, WORDS

PAD, UNK, BOS = "<pad>", "<unk>", "<bos>"
SPECIALS = (PAD, UNK, BOS, EOS)


def vocabulary(number_max: int) -> list[str]:
    """Every token, specials first, then words, then the numbers 0..number_max."""
    words = list(dict.fromkeys(WORDS))  # keep order, drop repeats ("answer" is in two lists)
    return [*SPECIALS, *words, *(str(n) for n in range(number_max + 1))]


def build_tokenizer(number_max: int) -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(vocabulary(number_max))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return fast_tokenizer(core, bos=BOS, eos=EOS, pad=PAD, unk=UNK, model_max_length=4096)
