"""A character-level tokenizer for the synthetic world, as a transformers tokenizer.

One token per character, so a number is written digit by digit and every step
boundary is exactly one newline token. It is a `PreTrainedTokenizerFast`, saved
beside each model with `save_pretrained` and loaded with `AutoTokenizer`.
`encode` adds the beginning-of-text token; the end-of-text token closes a
solution.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
# Everything the worlds write, plus letters so that prompts with words still tokenise.
CHARACTERS = string.digits + "+-*/=()[]:;.,?! \n" + string.ascii_letters


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + tuple(CHARACTERS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # [\s\S] rather than "." so that the newline too is a token of its own.
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, padding_side="left", clean_up_tokenization_spaces=False)


def newline_id(tokenizer) -> int:
    """The token that ends a step."""
    ids = tokenizer.encode("\n", add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"the tokenizer splits a newline into {len(ids)} tokens; step stopping "
                         "needs a newline to be one token")
    return ids[0]
