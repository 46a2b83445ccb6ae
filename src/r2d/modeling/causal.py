"""The causal 2D language model: a stock Llama decoder whose rows are roots combined with their flags, predicting the
next row's root, then that root's flags (``flag_head([h_t ; E[root_{t+1}]])``). With ``num_flags=0`` the same
class is the 1D twin. Only word-start rows' flags are free; fixed flags cost nothing (:func:`causal_targets`).

>>> import torch
>>> config = R2DCausalConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
...                          intermediate_size=64, max_position_embeddings=64)
>>> model = R2DForCausalLM(config)
>>> ids = torch.tensor([[0, 10, 11, 2]])
>>> out = model(input_ids=ids, flags=torch.zeros(1, 4, 7, dtype=torch.long), labels=ids)
>>> tuple(out.logits.shape), tuple(out.flag_logits.shape), out.loss.dim()
((1, 4, 100), (1, 3, 7), 0)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, GenerationMixin, LlamaModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel, LlamaRMSNorm
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import ModelOutput

from r2d.modeling.configuration import R2DCausalConfig
from r2d.modeling.encoder import _register_tokenizer
from r2d.modeling.flag_modules import R2DFlagInput
from r2d.modeling.losses import sequence_classification_loss
from r2d.modeling.model_generate import R2DGenerateOutput, generate_with_flags

logger = logging.getLogger(__name__)

IGNORE = -100


class R2DCausalFlagHead(nn.Module):
    """Flag logits of the next row given the hidden state and the next row's root embedding.

    ``Linear(2H, H) -> SiLU -> RMSNorm -> Linear(H, F)`` on ``[h_t ; E[root_{t+1}]]``: the root enters before the
    non-linearity, so what a flag means can depend on the root (``Suffix_s`` on a noun, ``Suffix_ed`` on a verb).
    """

    def __init__(self, config: R2DCausalConfig):
        super().__init__()
        h = config.hidden_size
        self.dense = nn.Linear(2 * h, h)
        self.norm = LlamaRMSNorm(h, eps=config.rms_norm_eps)
        self.decoder = nn.Linear(h, config.num_flags)

    def forward(self, hidden: torch.Tensor, next_root_embeds: torch.Tensor) -> torch.Tensor:
        """(..., H) hidden states and (..., H) next-root embeddings -> (..., F) flag logits."""
        x = torch.cat([hidden, next_root_embeds], dim=-1)  # (..., 2H)
        return self.decoder(self.norm(F.silu(self.dense(x))))  # (..., F)


class R2DCausalPreTrainedModel(LlamaPreTrainedModel):
    """Base class: the causal config, Llama's init plus the flag input's (identity on the embedding columns), and
    the decoder every head sits on: a ``LlamaModel`` (``self.model``) fed by the 2D input (``self.flag_input``, an
    :class:`~r2d.modeling.flag_modules.R2DFlagInput`, ``None`` for the twin). Subclasses add their heads, then call
    ``post_init``."""

    config_class = R2DCausalConfig
    config: R2DCausalConfig

    def __init__(self, config: R2DCausalConfig):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.flag_input = R2DFlagInput(config) if config.num_flags else None

    @staticmethod
    def positions(attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) position ids counted over real rows only (left padding safe): (B, T) 1/0 mask -> (B, T)."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.embed_tokens = value

    def embed_rows(self, input_ids: torch.Tensor, flags: torch.Tensor | None) -> torch.Tensor:
        """Rows -> ``inputs_embeds``: (B, T) ids and (B, T, F) flags -> (B, T, H)."""
        embeds = self.model.embed_tokens(input_ids)  # (B, T, H)
        if self.flag_input is None:
            return embeds
        if flags is None:
            raise ValueError(f"{type(self).__name__}.forward needs flags (B, T, F={self.config.num_flags}) next to "
                             "input_ids; R2DTokenizer returns them as enc['flags']")
        if flags.shape != (*input_ids.shape, self.config.num_flags):
            raise ValueError(f"flags must have shape {(*input_ids.shape, self.config.num_flags)} (B, T, F), "
                             f"got {tuple(flags.shape)}")
        return self.flag_input(embeds, flags)  # (B, T, H)

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, R2DFlagInput) and module.method == "concat_project":
            # subtle: the MLM model's init: identity on the embedding columns, small random flag columns
            h, f = module.hidden_size, module.num_flags
            w = torch.cat([torch.eye(h), torch.randn(h, f) * self.config.initializer_range], dim=1)  # (H, H + F)
            init.copy_(module.weight, w.to(module.weight.dtype))
            init.zeros_(module.bias)
        elif isinstance(module, R2DFlagInput) and module.method == "linear_sum":
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)


@dataclass
class R2DCausalLMOutput(ModelOutput):
    """Output of :class:`R2DForCausalLM`.

    Attributes:
        loss: ``root_loss + flag_loss`` in nats per predicted row (scalar), when ``labels`` are given.
        root_loss: summed root cross entropy / predicted rows (scalar).
        flag_loss: summed free-flag binary cross entropy / predicted rows (scalar; 0 for the twin).
        logits: (B, T, V) root scores of row t+1 from rows <= t.
        flag_logits: (B, T-1, F) flag logits of row t+1 given rows <= t and row t+1's root
            (``input_ids[:, 1:]``); ``None`` for the twin or when T == 1.
        cache: the ``transformers`` cache to pass to the next call (``use_cache=True``).
        last_hidden_state: (B, T, H) final hidden states (what generation feeds the flag head).
        hidden_states: with ``output_hidden_states=True``, the embeddings' output and each layer's, (B, T, H)
            each, as in Llama.
        attentions: with ``output_attentions=True``, each layer's (B, heads, T, T_past + T) weights (eager
            attention only: SDPA computes none, as in ``transformers``).
    """

    loss: torch.FloatTensor | None = None
    root_loss: torch.FloatTensor | None = None
    flag_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    flag_logits: torch.FloatTensor | None = None
    cache: Cache | None = None
    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def causal_targets(input_ids: torch.Tensor, flags: torch.Tensor | None, attention_mask: torch.Tensor | None,
                   word_start: torch.Tensor, *, bos_token_id: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Unshifted targets: which rows are predicted, and which rows' flags are free.

    Args:
        input_ids: (B, T) root ids.
        flags: (B, T, F) 0/1 flags, or ``None`` for the twin.
        attention_mask: (B, T) 1 = real row, or ``None`` (all real).
        word_start: (V,) bool, True for ids that start a word (``R2DTokenizer.word_start``; specials False).
        bos_token_id: ``<s>``, never predicted (where a document starts is given).

    Returns:
        ``labels`` (B, T): the ids, -100 at padding and ``<s>``; ``flag_labels`` (B, T, F): the flags at
        predicted word-start rows, -100 elsewhere (fixed flags are not predicted); ``None`` when ``flags`` is.
    """
    real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    predicted = real & input_ids.ne(bos_token_id)  # (B, T)
    labels = input_ids.masked_fill(~predicted, IGNORE)  # (B, T)
    if flags is None:
        return labels, None
    ws = word_start.to(input_ids.device)
    free = predicted & ws[input_ids.clamp(0, ws.numel() - 1)]  # (B, T)
    flag_labels = flags.long().masked_fill(~free.unsqueeze(-1), IGNORE)  # (B, T, F)
    return labels, flag_labels


def row_nll(logits: torch.Tensor, flag_logits: torch.Tensor | None, labels: torch.Tensor,
            flag_labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative log-likelihood (nats) of every row t+1 from the outputs at row t.

    Args:
        logits: (B, T, V) root scores. flag_logits: (B, T-1, F) or ``None``.
        labels: (B, T) unshifted ids, -100 = not predicted. flag_labels: (B, T, F) unshifted, -100 = fixed.

    Returns:
        ``root_nll`` (B, T-1) and ``flag_nll`` (B, T-1) in nats, 0 at rows that are not scored.
    """
    target = labels[:, 1:]  # (B, T-1)
    v = logits.size(-1)
    root = F.cross_entropy(logits[:, :-1].reshape(-1, v).float(), target.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view_as(target)  # (B, T-1)
    if flag_logits is None or flag_labels is None or flag_logits.size(-1) == 0:
        return root, torch.zeros_like(root)
    ftarget = flag_labels[:, 1:]  # (B, T-1, F)
    valid = ftarget.ne(IGNORE)
    per_flag = F.binary_cross_entropy_with_logits(flag_logits.float(), ftarget.clamp(min=0).float(),
                                                  reduction="none")  # (B, T-1, F)
    return root, (per_flag * valid).sum(-1)  # (B, T-1)


class R2DForCausalLM(R2DCausalPreTrainedModel, GenerationMixin):
    """The causal 2D decoder (``num_flags > 0``) or its 1D twin (``num_flags == 0``).

    ``generate`` is Hugging Face's: the twin's is ``GenerationMixin.generate`` itself; a 2D model's draws each
    row's root, then its flags (:func:`r2d.modeling.model_generate.generate_with_flags`), and returns an
    :class:`R2DGenerateOutput`.
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: R2DCausalConfig):
        super().__init__(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.flag_head = R2DCausalFlagHead(config) if config.num_flags else None
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    def next_flag_logits(self, hidden: torch.Tensor, next_ids: torch.Tensor) -> torch.Tensor:
        """Flag logits of the next rows given their roots: (..., H) hidden and (...) ids -> (..., F)."""
        if self.flag_head is None:
            return hidden.new_zeros((*hidden.shape[:-1], 0))
        return self.flag_head(hidden, self.model.embed_tokens(next_ids))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        flags: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        flag_labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        flag_logits: bool = True,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> R2DCausalLMOutput:
        """
        Args:
            input_ids: (B, T) root ids (the new rows only when ``cache`` holds the earlier ones).
            attention_mask: (B, T_past + T) 1 = real row, 0 = padding (left padding in generation).
            flags: (B, T, F) 0/1 flags of the rows (required when F > 0).
            labels: (B, T) unshifted ids to predict, -100 = not predicted (see :func:`causal_targets`).
            flag_labels: (B, T, F) unshifted flags to predict, -100 = fixed (not predicted).
            position_ids: (B, T); default ``cumsum(attention_mask) - 1`` (left padding safe) or 0, 1, ...
            cache: a ``transformers`` ``Cache`` (e.g. ``DynamicCache``) holding earlier rows.
            use_cache: return the cache (generation).
            flag_logits: compute the teacher-forced flag logits (B, T-1, F) (skip in generation).
            logits_to_keep: root logits of the last rows only (generation: 1); 0 = all rows (needed for a loss).
            **kwargs: passed to ``LlamaModel`` (``output_hidden_states``, ``output_attentions``, ...).

        Returns:
            :class:`R2DCausalLMOutput`; ``loss`` (nats per predicted row) when ``labels`` are given.
        """
        if input_ids is None:
            raise ValueError("R2DForCausalLM.forward needs input_ids (B, T)")
        if logits_to_keep and labels is not None:
            raise ValueError("R2DForCausalLM.forward: a loss needs the logits of every row; drop logits_to_keep")
        inputs_embeds = self.embed_rows(input_ids, flags)  # (B, T, H)
        if position_ids is None and attention_mask is not None:
            position_ids = self.positions(attention_mask)[:, -input_ids.size(1):]  # (B, T)
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids,
                         cache=cache, use_cache=use_cache, **kwargs)
        hidden = out.last_hidden_state  # (B, T, H)
        logits = self.lm_head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)  # (B, T or kept, V)
        next_flags = None
        if self.flag_head is not None and input_ids.size(1) > 1 and (flag_logits or labels is not None):
            next_flags = self.next_flag_logits(hidden[:, :-1], input_ids[:, 1:])  # (B, T-1, F)

        loss = root_loss = flag_loss = None
        if labels is not None:
            root, flag = row_nll(logits, next_flags, labels.to(logits.device),
                                 None if flag_labels is None else flag_labels.to(logits.device))
            n = labels[:, 1:].ne(IGNORE).sum().clamp(min=1)
            root_loss, flag_loss = root.sum() / n, flag.sum() / n
            loss = root_loss + flag_loss  # no pos_weight: a likelihood, in nats per predicted row
        return R2DCausalLMOutput(loss=loss, root_loss=root_loss, flag_loss=flag_loss, logits=logits,
                                 flag_logits=next_flags, cache=out.cache, last_hidden_state=hidden,
                                 hidden_states=out.hidden_states, attentions=out.attentions)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, generation_config=None, *, flags: torch.Tensor | None = None,
                 tokenizer=None, **kwargs):
        """Hugging Face's ``generate``: greedy unless ``do_sample``, the KV cache, left-padded batches.

        The twin (``num_flags == 0``) runs ``GenerationMixin.generate`` and returns what it returns. A 2D model
        runs :func:`r2d.modeling.model_generate.generate_with_flags` (``flags`` (B, T, F) beside ``input_ids``; the
        tokenizer, default the one saved beside the model, says which roots start a word) and returns an
        :class:`R2DGenerateOutput`.

        >>> # enc = encode_prompts(tok, ["The history of"]); out = model.generate(**enc, max_new_tokens=40)
        >>> # tok.batch_decode(out.sequences, out.flags)
        """
        if not self.config.num_flags:
            if flags is not None:
                raise ValueError("the 1D twin (num_flags=0) takes no flags")
            if tokenizer is not None:
                kwargs["tokenizer"] = tokenizer
            return super().generate(inputs, generation_config, **kwargs)
        return generate_with_flags(self, inputs, generation_config, flags=flags, tokenizer=tokenizer, **kwargs)

    def num_non_embedding_parameters(self) -> int:
        """Parameters outside the (tied) root embedding: the decoder plus the flag input and head."""
        return sum(p.numel() for p in self.parameters()) - self.model.embed_tokens.weight.numel()


class R2DCausalForSequenceClassification(R2DCausalPreTrainedModel):
    """The causal decoder (2D or twin) with a linear head on the last real row, like HF's
    ``LlamaForSequenceClassification``: in a causal model only the last row has read the whole input.

    Loads the decoder and flag input of an :class:`R2DForCausalLM` checkpoint (same parameter names); the root and
    flag heads are dropped and ``score`` is new. ``config.problem_type`` works as in
    :func:`r2d.modeling.losses.sequence_classification_loss`.
    """

    # the pretraining heads of a causal LM checkpoint are dropped on purpose: no UNEXPECTED rows in the load report
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\.", r"^flag_head\."]

    def __init__(self, config: R2DCausalConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        flags: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """
        Args:
            input_ids: (B, T) root ids. attention_mask: (B, T) 1 = real row (left or right padding).
            flags: (B, T, F) 0/1 flags (required when F > 0).
            labels: (B,) class ids, (B,) or (B, 1) floats for regression, (B, num_labels) floats for multi-label.
            **kwargs: passed to ``LlamaModel``.

        Returns:
            ``SequenceClassifierOutput`` with ``logits`` (B, num_labels) and ``loss`` when labels are given.
        """
        if input_ids is None:
            raise ValueError("R2DCausalForSequenceClassification.forward needs input_ids (B, T)")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        position_ids = self.positions(attention_mask)  # (B, T)
        out = self.model(inputs_embeds=self.embed_rows(input_ids, flags), attention_mask=attention_mask,
                         position_ids=position_ids, **kwargs)
        last = position_ids.argmax(-1)  # (B,) the last real row: the first to reach the highest position
        pooled = out.last_hidden_state[torch.arange(input_ids.size(0), device=input_ids.device), last]  # (B, H)
        logits = self.score(pooled)  # (B, num_labels)
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)


NATS_PER_BIT = math.log(2)

_register_tokenizer(R2DCausalConfig)
AutoModelForCausalLM.register(R2DCausalConfig, R2DForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(R2DCausalConfig, R2DCausalForSequenceClassification, exist_ok=True)

__all__ = [
    "R2DCausalConfig",
    "R2DForCausalLM",
    "R2DCausalForSequenceClassification",
    "R2DCausalLMOutput",
    "R2DGenerateOutput",
    "R2DCausalFlagHead",
    "causal_targets",
    "row_nll",
    "NATS_PER_BIT",
]
