"""ELECTRA for 2D rows: a small R2D MLM (the generator) fills masked words with sampled roots and flags, and an R2D
encoder (the discriminator) tells, for every row, whether its root was replaced and, for every flag, whether it
changed. :class:`ElectraTwinForPreTraining` is the 1D twin on byte-level BPE ids, built from transformers' ELECTRA.

A replacement must not give itself away by anything but its meaning, so:

- whole words are corrupted (the MLM collator's whole-word masking): every row of a word carries the word's flags,
  so one replaced row would show its siblings' old flags beside its new ones;
- a row samples a root of its own kind: a word-start id for a word-start row, a continuation piece for a
  continuation row, never a special id; a word keeps its rows and boundaries (a word-start id inside a word, or a
  continuation piece after a space, would mark the row at once);
- a masked word's flags are drawn once, at its first row, from the generator's flag head given the *sampled* root
  (``flag_head([h ; E[root]])``, its first piece; trained on the original root) and copied to its rows: a root
  comes with flags it takes (``the`` with ``Suffix_ed`` does not happen), at the corpus' rates (the head's logits
  less ``log pos_weight``);
- with ``config.flag_patterns`` (the flag rows that occur in the corpus) the row of flags is drawn jointly among
  those, so independent draws never make a row that cannot occur (``FirstCap`` with ``AllCaps``, two suffixes);
- the discriminator sees neither ``<mask>`` nor hidden flags; its targets are "differs from the original" (a
  sampled root equal to the original is not replaced, as in ELECTRA), the flags' at word-start rows only.

What is left to notice is the generator's own error: an odd root, odd flags for the context, or pieces that do not
make a word (the 1D ELECTRA has the same). The twin samples by the same rules (a word starts at GPT-2's ``Ġ``), and
its generator shares its token embeddings like R2D's. Batches are the MLM collator's with whole words and every
selected row ``<mask>`` (:func:`electra_collator`); the sampling draws from torch's RNG unless ``sampler`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification
from transformers.models.electra.modeling_electra import (
    ElectraDiscriminatorPredictions,
    ElectraForSequenceClassification,
    ElectraGeneratorPredictions,
    ElectraModel,
    ElectraPreTrainedModel,
)
from transformers.models.roberta.modeling_roberta import RobertaClassificationHead, RobertaLMHead
from transformers.utils import ModelOutput

from r2d.modeling.collator import R2DDataCollatorForMLM, word_owner, word_start_rows
from r2d.modeling.configuration import ElectraTwinConfig, R2DElectraConfig
from r2d.modeling.encoder import R2DForSequenceClassification, R2DModel, R2DPreTrainedModel, _register_tokenizer
from r2d.modeling.flag_modules import R2DFlagHead
from r2d.modeling.losses import flag_bce_loss, labelled_rows_lm_loss
from r2d.modeling.mlm_batches import NoFlags, RobertaWordStarts


SPECIAL, CONTINUATION, WORD_START = -1, 0, 1  # the kinds of ids in ``vocab_kind``


# ------------------------------------------------------------------------------------------ the vocabulary


def vocab_kinds(vocab_size: int, word_start, special_ids: Iterable[int]) -> torch.Tensor:
    """(V,) int8: ``WORD_START``, ``CONTINUATION`` or ``SPECIAL`` (never sampled) for each id; ids past
    ``len(word_start)`` are special (a vocabulary padded beyond its tokenizer).

    >>> vocab_kinds(5, [False, True, False, True], [0]).tolist()
    [-1, 1, 0, 1, -1]
    """
    ws = torch.as_tensor(np.asarray(word_start, dtype=bool))[:vocab_size]
    kinds = torch.full((vocab_size,), SPECIAL, dtype=torch.int8)
    kinds[: len(ws)] = torch.where(ws, WORD_START, CONTINUATION).to(torch.int8)
    specials = [int(i) for i in special_ids if 0 <= int(i) < vocab_size]
    kinds[specials] = SPECIAL
    return kinds


class _ElectraPair:
    """What both ELECTRA pairs share besides the functions below: the persistent buffer ``vocab_kind`` (V,) the
    sampling reads (until :meth:`set_vocabulary` every id but ``<s>``, ``<pad>`` and ``</s>`` counts as a word
    start), and the tying of the generator's embeddings."""

    def _init_pair(self, config, embeddings: str, lm_head: dict[str, str | None]) -> None:
        """Register ``vocab_kind``; tie the keys of ``lm_head`` (``None``: to the token embeddings, the
        discriminator's ``embeddings`` with ``share_embeddings``, else the generator's), and with
        ``share_embeddings`` the generator's token embeddings to the discriminator's. Call before ``post_init``."""
        specials = [i for i in (config.bos_token_id, config.pad_token_id, config.eos_token_id) if i is not None]
        self.register_buffer("vocab_kind", vocab_kinds(config.vocab_size, [True] * config.vocab_size, specials))
        source = f"{self.base_model_prefix if config.share_embeddings else 'generator'}.{embeddings}"
        self._tied_weights_keys = {key: tied or source for key, tied in lm_head.items()}
        if config.share_embeddings:
            self._tied_weights_keys[f"generator.{embeddings}"] = source

    def set_vocabulary(self, tokenizer) -> None:
        """Take the kinds of ids from the tokenizer: an ``R2DTokenizer`` (its ``word_start``) or the twin's
        byte-level BPE (a word starts at GPT-2's ``Ġ``: :class:`~r2d.modeling.mlm_batches.RobertaWordStarts`)."""
        if not hasattr(tokenizer, "word_start"):
            tokenizer = RobertaWordStarts(tokenizer)
        kinds = vocab_kinds(len(self.vocab_kind), tokenizer.word_start, tokenizer.all_special_ids)
        self.vocab_kind.copy_(kinds.to(self.vocab_kind.device))


def electra_collator(tokenizer, *, mlm_probability: float = 0.15):
    """The masking of ELECTRA batches: whole words, every selected row ``<mask>`` (the generator only needs to know
    what to fill). ``tokenizer``: an ``R2DTokenizer`` or the twin's byte-level BPE (then ``NoFlags``-wrapped)."""
    kw = dict(mlm_probability=mlm_probability, whole_word_mask=True, mask_replace_prob=1.0, random_replace_prob=0.0)
    if hasattr(tokenizer, "flag_names") and hasattr(tokenizer, "word_start"):
        return R2DDataCollatorForMLM(tokenizer, **kw)
    return NoFlags(R2DDataCollatorForMLM(RobertaWordStarts(tokenizer), **kw))


def observed_flag_patterns(flag_rows: Iterable) -> list[list[int]]:
    """The distinct rows of flags in ``flag_rows`` (arrays (T, F) of 0/1), sorted: ``config.flag_patterns``.

    >>> observed_flag_patterns([np.array([[0, 1], [0, 0]]), np.array([[0, 1]])])
    [[0, 0], [0, 1]]
    """
    rows = [np.asarray(r, dtype=np.int64) for r in flag_rows]
    return np.unique(np.concatenate(rows), axis=0).tolist()


# ------------------------------------------------------------------------------------------ corruption


def sample_roots(logits: torch.Tensor, kinds: torch.Tensor, vocab_kind: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(N,) ids drawn from ``softmax(logits)`` among the ids of each row's kind (all non-special ids where the
    vocabulary has none of that kind).

    Args:
        logits: (N, V) the generator's root logits. kinds: (N,) the kind of each row's original id.
        vocab_kind: (V,) kinds of the ids (:func:`vocab_kinds`). generator: seeds the draw (on the logits' device).
    """
    allowed = vocab_kind.unsqueeze(0) == kinds.unsqueeze(1)  # (N, V)
    allowed |= ~allowed.any(-1, keepdim=True) & (vocab_kind != SPECIAL)  # subtle: a kind the vocabulary lacks
    if logits.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=logits.device)
    probs = torch.softmax(logits.float().masked_fill(~allowed, float("-inf")), dim=-1)  # (N, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)


def sample_flags(logits: torch.Tensor, patterns: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, F) 0/1 flag rows: each flag on with probability ``sigmoid(logits)``, or, given ``patterns`` (P, F), one
    of those rows drawn with probability proportional to its likelihood under the same independent flags."""
    if patterns is None or logits.shape[0] == 0:
        return torch.bernoulli(torch.sigmoid(logits.float()), generator=generator).long()
    on, off = nn.functional.logsigmoid(logits.float()), nn.functional.logsigmoid(-logits.float())  # (N, F)
    p = patterns.to(on)
    scores = on @ p.T + off @ (1 - p).T  # (N, P) log-likelihood of each pattern
    pick = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(-1)  # (N,)
    return patterns[pick].long()  # (N, F)


def corrupt(input_ids: torch.Tensor, flags: torch.Tensor, masked: torch.Tensor, root_logits: torch.Tensor, *,
            vocab_kind: torch.Tensor, flag_logits_of: Callable[[torch.Tensor], torch.Tensor] | None = None,
            flag_patterns: torch.Tensor | None = None,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's input: the masked rows replaced by samples (see the module docstring).

    Args:
        input_ids: (B, T) original ids. flags: (B, T, F) original flags (F may be 0).
        masked: (B, T) bool, the rows to fill; never a special or padding row.
        root_logits: (N, V) the generator's root logits at the N masked rows, in row-major order.
        vocab_kind: (V,) kinds of the ids (:func:`vocab_kinds`).
        flag_logits_of: sampled roots (N,) -> (N, F) flag logits of those roots at those rows, calibrated (0 means
            even odds); ``None`` keeps the original flags.
        flag_patterns: (P, F) the flag rows that may be drawn; ``None`` = any.
        generator: seeds the draws; ``None`` = torch's global RNG.

    Returns:
        ``(ids (B, T), flags (B, T, F))``: the corrupted rows; unmasked rows are the originals.
    """
    kinds = vocab_kind[input_ids]  # (B, T)
    words = kinds != SPECIAL  # (B, T) rows that belong to words
    if bool((masked & ~words).any()):
        raise ValueError("corrupt: masked rows must be word rows; special and padding rows are never replaced")
    if root_logits.shape[0] != int(masked.sum()):
        raise ValueError(f"corrupt: root_logits has {root_logits.shape[0]} rows for {int(masked.sum())} masked rows")
    ids = input_ids.clone()
    sampled = sample_roots(root_logits, kinds[masked], vocab_kind, generator)  # (N,)
    ids[masked] = sampled
    out_flags = flags.clone()
    if flags.shape[-1] and flag_logits_of is not None:
        word_start = vocab_kind == WORD_START  # (V,)
        starts = word_start_rows(input_ids, words, word_start) & masked  # (B, T) first rows of masked words
        first = starts[masked]  # (N,)
        out_flags[starts] = sample_flags(flag_logits_of(sampled)[first], flag_patterns, generator).to(flags.dtype)
        owner = word_owner(input_ids, words, word_start)  # (B, T)
        in_masked_word = words & starts.gather(1, owner)  # (B, T)
        copied = out_flags.gather(1, owner.unsqueeze(-1).expand_as(out_flags))  # (B, T, F) each word's first row
        out_flags = torch.where(in_masked_word.unsqueeze(-1), copied, out_flags)
    return ids, out_flags


def electra_targets(input_ids: torch.Tensor, flags: torch.Tensor, corrupted_ids: torch.Tensor,
                    corrupted_flags: torch.Tensor, *, vocab_kind: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's targets: ``(replaced (B, T), flag_changed (B, T, F))``, 1 where the corrupted row differs
    from the original (root; each flag), 0 where not, -100 where not scored: special and padding rows, and for flags
    every row but a word's first (the others copy it).

    Args:
        input_ids, flags: (B, T), (B, T, F) the originals. corrupted_ids, corrupted_flags: what the discriminator
            reads. vocab_kind: (V,) kinds of the ids.
    """
    words = vocab_kind[input_ids] != SPECIAL  # (B, T)
    ignore = torch.full_like(input_ids, -100)
    replaced = torch.where(words, corrupted_ids.ne(input_ids).long(), ignore)  # (B, T)
    starts = word_start_rows(input_ids, words, vocab_kind == WORD_START)  # (B, T)
    changed = torch.where(starts.unsqueeze(-1), corrupted_flags.ne(flags).long(), -100)  # (B, T, F)
    return replaced, changed


def originals(input_ids: torch.Tensor, labels: torch.Tensor, flags: torch.Tensor | None = None,
              flag_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows before masking, from an MLM batch: ids where ``labels`` is -100, else the labels; the same for
    flags (``None`` when not given)."""
    ids = torch.where(labels.ne(-100), labels, input_ids)  # (B, T)
    if flags is None:
        return ids, None
    return ids, torch.where(flag_labels.ne(-100), flag_labels, flags)  # (B, T, F)


def replaced_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross entropy of the replaced-root logits (B, T) at rows whose label is not -100."""
    return flag_bce_loss(logits.unsqueeze(-1), labels.unsqueeze(-1), logits.new_ones(1))


@dataclass
class ElectraPreTrainingOutput(ModelOutput):
    """Output of the ELECTRA pretraining models (the twin leaves the flag fields ``None``).

    Attributes:
        loss: ``mlm_loss + flag_loss_weight * flag_loss + discriminator_weight * (replaced_loss + flag_change_loss)``.
        mlm_loss, flag_loss: the generator's (root cross entropy at masked rows; flags' ``pos_weight``-ed BCE at
            masked words' first rows, given the original root).
        replaced_loss, flag_change_loss: the discriminator's binary cross entropies (all word rows; words' first
            rows, ``flag_change_pos_weight``-ed).
        logits: (B, T) replaced-root logits. flag_change_logits: (B, T, F) flag-changed logits.
        replaced_labels: (B, T), flag_change_labels: (B, T, F): the targets (:func:`electra_targets`).
        corrupted_ids: (B, T), corrupted_flags: (B, T, F): what the discriminator read.
        generator_logits: (N, V) the generator's root logits at the masked rows.
        generator_flag_logits: (W, F) the generator's flag logits at the masked words' first rows, given the original
            root (what ``flag_loss`` scores), in row-major order.
        hidden_states, attentions: the discriminator's, when requested.
    """

    loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    flag_loss: torch.FloatTensor | None = None
    replaced_loss: torch.FloatTensor | None = None
    flag_change_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    flag_change_logits: torch.FloatTensor | None = None
    replaced_labels: torch.LongTensor | None = None
    flag_change_labels: torch.LongTensor | None = None
    corrupted_ids: torch.LongTensor | None = None
    corrupted_flags: torch.LongTensor | None = None
    generator_logits: torch.FloatTensor | None = None
    generator_flag_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def _need_labels(labels, name: str) -> None:
    if labels is None:
        raise ValueError(f"{name}.forward needs labels (B, T): the original ids at the masked rows, -100 elsewhere "
                         "(electra_collator's batches)")


# ------------------------------------------------------------------------------------------ R2D


class R2DElectraForPreTraining(_ElectraPair, R2DPreTrainedModel):
    """The R2D ELECTRA pair: generator (``generator``: an R2D encoder of the generator's size, ``generator_lm_head``,
    the root-conditioned ``generator_flag_head``) and discriminator (``r2d``: an R2D encoder without hidden flags,
    ``discriminator_predictions``: root replaced, ``flag_change_head``: each flag changed). With
    ``share_embeddings`` the generator reads and writes the discriminator's root embeddings.

    Call :meth:`set_vocabulary` with the tokenizer before training. The discriminator fine-tunes as
    :class:`R2DElectraForSequenceClassification` (``AutoModelForSequenceClassification``).
    """

    config_class = R2DElectraConfig
    config: R2DElectraConfig

    def __init__(self, config: R2DElectraConfig):
        super().__init__(config)
        small = config.generator_config()
        self.r2d = R2DModel(config, add_pooling_layer=False, hideable_flags=False)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.flag_change_head = R2DFlagHead(config)
        self.generator = R2DModel(small, add_pooling_layer=False)
        self.generator_lm_head = RobertaLMHead(small)
        self.generator_flag_head = R2DFlagHead(small, root_conditioned=True)
        self._init_pair(config, "roberta.embeddings.word_embeddings.weight",
                        {"generator_lm_head.decoder.weight": None,
                         "generator_lm_head.decoder.bias": "generator_lm_head.bias"})
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        flags: torch.Tensor | None = None,
        hidden_flags: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        flag_labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        sampler: torch.Generator | None = None,
        **kwargs,
    ) -> ElectraPreTrainingOutput:
        """
        Args:
            input_ids, attention_mask, flags, hidden_flags, labels, flag_labels: an MLM batch of
                :func:`electra_collator` (masked ids (B, T), hidden flags (B, T, F), originals in the labels).
            token_type_ids, position_ids: as in :meth:`R2DModel.forward` (both encoders).
            sampler: seeds the replacements (on the model's device); ``None`` = torch's global RNG.
            **kwargs: passed to the discriminator's encoder (``output_hidden_states``, ...).

        Returns:
            :class:`ElectraPreTrainingOutput`.
        """
        _need_labels(labels, type(self).__name__)
        hidden = self.generator(input_ids=input_ids, attention_mask=attention_mask, flags=flags,
                                hidden_flags=hidden_flags, token_type_ids=token_type_ids,
                                position_ids=position_ids).last_hidden_state  # (B, T, Hg)
        if flag_labels is None:
            flag_labels = torch.full_like(flags, -100)
        ids, row_flags = originals(input_ids, labels, flags, flag_labels)  # (B, T), (B, T, F)
        masked = labels.ne(-100)  # (B, T)
        root_logits, mlm_loss = labelled_rows_lm_loss(self.generator_lm_head, hidden, labels)  # (N, V), scalar
        h = hidden[masked]  # (N, Hg)
        embed = self.generator.get_input_embeddings()
        pos_weight = torch.tensor(self.config.clamped_pos_weight(), device=h.device)  # (F,)
        words = self.vocab_kind[ids] != SPECIAL  # (B, T)
        first = word_start_rows(ids, words, self.vocab_kind == WORD_START)[masked]  # (N,) a masked word's first row
        flag_logits = self.generator_flag_head(h[first], embed(ids[masked][first]))  # (W, F) given the true root
        flag_loss = flag_bce_loss(flag_logits, row_flags[masked][first], pos_weight)

        patterns = self.config.flag_patterns
        with torch.no_grad():
            corrupted_ids, corrupted_flags = corrupt(
                ids, row_flags, masked, root_logits.detach(), vocab_kind=self.vocab_kind,
                flag_logits_of=lambda roots: self.generator_flag_head(h, embed(roots)) - pos_weight.log(),
                flag_patterns=None if patterns is None else torch.tensor(patterns, device=h.device),
                generator=sampler)
        out = self.r2d(input_ids=corrupted_ids, attention_mask=attention_mask, flags=corrupted_flags,
                       token_type_ids=token_type_ids, position_ids=position_ids, **kwargs)
        logits = self.discriminator_predictions(out.last_hidden_state)  # (B, T)
        change_logits = self.flag_change_head(out.last_hidden_state)  # (B, T, F)
        replaced, changed = electra_targets(ids, row_flags, corrupted_ids, corrupted_flags, vocab_kind=self.vocab_kind)
        rtd_loss = replaced_loss(logits, replaced)
        change_loss = flag_bce_loss(change_logits, changed,
                                    torch.tensor(self.config.flag_change_pos_weight, device=logits.device))
        loss = (mlm_loss + self.config.flag_loss_weight * flag_loss
                + self.config.discriminator_weight * (rtd_loss + change_loss))
        return ElectraPreTrainingOutput(
            loss=loss, mlm_loss=mlm_loss, flag_loss=flag_loss, replaced_loss=rtd_loss, flag_change_loss=change_loss,
            logits=logits, flag_change_logits=change_logits, replaced_labels=replaced, flag_change_labels=changed,
            corrupted_ids=corrupted_ids, corrupted_flags=corrupted_flags, generator_logits=root_logits,
            generator_flag_logits=flag_logits, hidden_states=out.hidden_states, attentions=out.attentions)


class R2DElectraForSequenceClassification(R2DForSequenceClassification):
    """:class:`~r2d.modeling.encoder.R2DForSequenceClassification` on an ELECTRA checkpoint's discriminator (its
    encoder, without hidden flags); the generator and the detection heads are dropped on load."""

    config_class = R2DElectraConfig
    _keys_to_ignore_on_load_unexpected = [r"^generator", r"^discriminator_predictions\.", r"^flag_change_head\.",
                                          r"^vocab_kind$"]
    hideable_flags = False


# ------------------------------------------------------------------------------------------ the 1D twin


class ElectraTwinForPreTraining(_ElectraPair, ElectraPreTrainedModel):
    """The 1D twin of :class:`R2DElectraForPreTraining` from transformers' ELECTRA pieces: discriminator ``electra``
    + ``discriminator_predictions`` (the names of ``ElectraForPreTraining``), generator ``generator`` (an
    ``ElectraModel`` of the generator's size) + ``generator_predictions`` + ``generator_lm_head`` (the names of
    ``ElectraForMaskedLM``), the token embeddings shared; same masking, sampling rules, targets and loss, no flags.
    """

    config_class = ElectraTwinConfig
    config: ElectraTwinConfig

    def __init__(self, config: ElectraTwinConfig):
        super().__init__(config)
        small = config.generator_config()
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.generator = ElectraModel(small)
        self.generator_predictions = ElectraGeneratorPredictions(small)
        self.generator_lm_head = nn.Linear(small.embedding_size, small.vocab_size)
        self._init_pair(config, "embeddings.word_embeddings.weight", {"generator_lm_head.weight": None})
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        sampler: torch.Generator | None = None,
        **kwargs,
    ) -> ElectraPreTrainingOutput:
        """Arguments and output as :meth:`R2DElectraForPreTraining.forward`, without flags."""
        _need_labels(labels, type(self).__name__)
        ids, _ = originals(input_ids, labels)  # (B, T)
        masked = labels.ne(-100)  # (B, T)
        hidden = self.generator(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids).last_hidden_state  # (B, T, Hg)
        head = lambda x: self.generator_lm_head(self.generator_predictions(x))  # noqa: E731  (..., Hg) -> (..., V)
        root_logits, mlm_loss = labelled_rows_lm_loss(head, hidden, labels)  # (N, V), scalar
        no_flags = ids.new_zeros((*ids.shape, 0))  # (B, T, 0)
        with torch.no_grad():
            corrupted_ids, _ = corrupt(ids, no_flags, masked, root_logits.detach(), vocab_kind=self.vocab_kind,
                                       generator=sampler)
        out = self.electra(input_ids=corrupted_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           position_ids=position_ids, return_dict=True, **kwargs)
        logits = self.discriminator_predictions(out.last_hidden_state)  # (B, T)
        replaced, _ = electra_targets(ids, no_flags, corrupted_ids, no_flags, vocab_kind=self.vocab_kind)
        rtd_loss = replaced_loss(logits, replaced)
        return ElectraPreTrainingOutput(
            loss=mlm_loss + self.config.discriminator_weight * rtd_loss, mlm_loss=mlm_loss, replaced_loss=rtd_loss,
            logits=logits, replaced_labels=replaced, corrupted_ids=corrupted_ids, generator_logits=root_logits,
            hidden_states=out.hidden_states, attentions=out.attentions)


class ElectraTwinForSequenceClassification(ElectraForSequenceClassification):
    """``ElectraForSequenceClassification`` on the twin's discriminator, with RoBERTa's classification head (the
    head of every other fine-tuned model here, so the pair differs in its input only)."""

    config_class = ElectraTwinConfig
    _keys_to_ignore_on_load_unexpected = [r"^generator", r"^discriminator_predictions\.", r"^vocab_kind$"]

    def __init__(self, config: ElectraTwinConfig):
        super().__init__(config)
        self.classifier = RobertaClassificationHead(config)
        self.post_init()


AutoModelForPreTraining.register(R2DElectraConfig, R2DElectraForPreTraining, exist_ok=True)
AutoModelForSequenceClassification.register(R2DElectraConfig, R2DElectraForSequenceClassification, exist_ok=True)
AutoModelForPreTraining.register(ElectraTwinConfig, ElectraTwinForPreTraining, exist_ok=True)
AutoModelForSequenceClassification.register(ElectraTwinConfig, ElectraTwinForSequenceClassification, exist_ok=True)
_register_tokenizer(R2DElectraConfig)

__all__ = [
    "R2DElectraConfig",
    "R2DElectraForPreTraining",
    "R2DElectraForSequenceClassification",
    "ElectraTwinConfig",
    "ElectraTwinForPreTraining",
    "ElectraTwinForSequenceClassification",
    "ElectraPreTrainingOutput",
    "corrupt",
    "electra_targets",
    "electra_collator",
    "observed_flag_patterns",
    "sample_roots",
    "sample_flags",
    "vocab_kinds",
    "SPECIAL",
    "CONTINUATION",
    "WORD_START",
]
