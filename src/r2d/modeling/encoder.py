"""R2D's MLM and classification models: a stock RoBERTa fed ``inputs_embeds`` built from root ids and flag rows, with
a second head that predicts the F flags beside the root.

RoBERTa's position ids are computed from ``input_ids`` (padding rows keep ``padding_idx``), since RoBERTa numbers
positions wrongly when given embeddings. Threshold the calibrated ``flag_probs`` at 0.5, not the raw flag logits
(:func:`~r2d.modeling.losses.calibrated_flag_probs`).

>>> import torch
>>> config = R2DConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
...                    intermediate_size=64, max_position_embeddings=64)
>>> model = R2DForMaskedLM(config)
>>> ids = torch.tensor([[0, 10, 11, 2, 1]])
>>> out = model(input_ids=ids, attention_mask=(ids != 1).long(), flags=torch.zeros(1, 5, 7, dtype=torch.long))
>>> tuple(out.logits.shape), tuple(out.flag_logits.shape), tuple(out.flag_probs.shape)
((1, 5, 100), (1, 5, 7), (1, 5, 7))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    RobertaModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions, SequenceClassifierOutput
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.roberta.modeling_roberta import (
    RobertaClassificationHead,
    RobertaForMaskedLM,
    RobertaLMHead,
    RobertaPreTrainedModel,
)
from transformers.utils import ModelOutput

from r2d.modeling.configuration import (  # noqa: F401  (re-exported: the model file's public names)
    ARTICLE_FLAG_NAMES,
    FLAG_COMBINE_METHODS,
    FLAG_VALUE_MODES,
    R2DConfig,
)
from r2d.modeling.flag_modules import R2DFlagHead, R2DFlagInput
from r2d.modeling.losses import (  # noqa: F401  (re-exported: importable from here as before)
    calibrated_flag_probs,
    flag_bce_loss,
    labelled_rows_lm_loss,
    masked_lm_loss,
    sequence_classification_loss,
)

logger = logging.getLogger(__name__)


def roberta_position_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa's position ids: ``padding_idx + 1, padding_idx + 2, ...`` over non-pad rows; pads keep ``padding_idx``.

    Args:
        input_ids: (B, T) token ids.
        padding_idx: the pad id (RoBERTa: 1).

    Returns:
        (B, T) long tensor of position ids.
    """
    mask = input_ids.ne(padding_idx).long()  # (B, T)
    return torch.cumsum(mask, dim=1) * mask + padding_idx  # (B, T)


class R2DPreTrainedModel(RobertaPreTrainedModel):
    """Base class: R2D config, ``base_model_prefix = "r2d"``, RoBERTa's init plus the flag input's."""

    config_class = R2DConfig
    config: R2DConfig
    base_model_prefix = "r2d"
    _no_split_modules = ["RobertaEmbeddings", "RobertaLayer"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, R2DFlagInput):
            std = self.config.initializer_range
            if module.hidden_embedding is not None:
                init.normal_(module.hidden_embedding, mean=0.0, std=std)
            if module.method == "concat_project":
                h, f = module.hidden_size, module.num_flags
                # subtle: identity on the embedding columns, so training starts from RoBERTa's input.
                w = torch.cat([torch.eye(h), torch.randn(h, f) * std], dim=1)  # (H, H + F)
                init.copy_(module.weight, w.to(module.weight.dtype))
                init.zeros_(module.bias)
            elif module.method == "linear_sum":
                init.normal_(module.weight, mean=0.0, std=std)


class R2DModel(R2DPreTrainedModel):
    """The bare R2D encoder: flag input + RoBERTa backbone. Returns RoBERTa's base model output.

    ``hideable_flags=False`` leaves out the hidden-flags embedding, for an encoder that never reads hidden flags
    (the ELECTRA discriminator: every parameter then takes part in every step).
    """

    def __init__(self, config: R2DConfig, add_pooling_layer: bool = True, hideable_flags: bool = True):
        super().__init__(config)
        self.flag_input = R2DFlagInput(config, hideable=hideable_flags)
        self.roberta = RobertaModel(config, add_pooling_layer=add_pooling_layer)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.roberta.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.roberta.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        flags: torch.Tensor | None = None,
        hidden_flags: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPoolingAndCrossAttentions:
        """
        Args:
            input_ids: (B, T) root token ids.
            attention_mask: (B, T) 1 for real rows, 0 for padding.
            flags: (B, T, F) 0/1 flag rows (required).
            hidden_flags: (B, T) 1 on rows whose flags the MLM collator hid; ``None`` = all shown.
            token_type_ids: (B, T), optional, as in RoBERTa.
            position_ids: (B, T), optional; default: RoBERTa's numbering computed from ``input_ids``.
            **kwargs: passed to ``RobertaModel`` (``output_hidden_states``, ``output_attentions``, ...).

        Returns:
            ``BaseModelOutputWithPoolingAndCrossAttentions`` with ``last_hidden_state`` (B, T, H).
        """
        if input_ids is None:
            raise ValueError("R2DModel.forward needs input_ids (B, T)")
        if flags is None:
            raise ValueError(
                f"R2DModel.forward needs flags (B, T, F={self.config.num_flags}) next to input_ids; "
                "R2DTokenizer returns them as enc['flags']"
            )
        if flags.shape != (*input_ids.shape, self.config.num_flags):
            raise ValueError(
                f"flags must have shape {(*input_ids.shape, self.config.num_flags)} (B, T, F), got {tuple(flags.shape)}"
            )
        if hidden_flags is not None and hidden_flags.shape != input_ids.shape:
            raise ValueError(f"hidden_flags must have shape {tuple(input_ids.shape)} (B, T), got "
                             f"{tuple(hidden_flags.shape)}")
        if position_ids is None:
            position_ids = roberta_position_ids(input_ids, self.config.pad_token_id)  # (B, T)
        word_embeds = self.roberta.embeddings.word_embeddings(input_ids)  # (B, T, H)
        inputs_embeds = self.flag_input(word_embeds, flags, hidden_flags)  # (B, T, H)
        return self.roberta(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            return_dict=True,
            **kwargs,
        )


@dataclass
class R2DMaskedLMOutput(ModelOutput):
    """Output of :class:`R2DForMaskedLM` (two summed losses, like ``BertForPreTrainingOutput``).

    Attributes:
        loss: ``mlm_loss + flag_loss_weight * flag_loss`` (scalar), when labels are given.
        mlm_loss: cross entropy of the root ids at rows with ``labels != -100`` (scalar).
        flag_loss: ``BCEWithLogitsLoss(pos_weight)`` of the flags at rows with ``flag_labels != -100`` (scalar).
        logits: (B, T, V) root-token scores; with ``labelled_rows_only`` in training mode with ``labels`` given,
            (N, V) for the N labelled rows only (:func:`labelled_rows_lm_loss`).
        flag_logits: (B, T, F) flag logits, trained with ``pos_weight`` w: 0 means "above the base rate".
        flag_probs: (B, T, F) calibrated probability of each flag, ``sigmoid(flag_logits - log w)``
            (threshold at 0.5; what ``R2DTokenizer.decode`` takes).
        hidden_states, attentions: as in RoBERTa, when requested.
    """

    loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    flag_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    flag_logits: torch.FloatTensor | None = None
    flag_probs: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class R2DForMaskedLM(R2DPreTrainedModel):
    """R2D with the MLM heads: root-token head (tied to the word embeddings) and flag head.

    Attribute ``labelled_rows_only`` (default False; the pretraining recipe sets it): in training mode with
    ``labels``, project only the labelled rows onto the vocabulary (``logits`` (N, V), same loss and gradients,
    a fraction of the cost; :func:`labelled_rows_lm_loss`).
    """

    _tied_weights_keys = {
        "lm_head.decoder.weight": "r2d.roberta.embeddings.word_embeddings.weight",
        "lm_head.decoder.bias": "lm_head.bias",
    }

    def __init__(self, config: R2DConfig):
        super().__init__(config)
        self.r2d = R2DModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.flag_head = R2DFlagHead(config)
        self.labelled_rows_only = False
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head.decoder = new_embeddings

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
        **kwargs,
    ) -> R2DMaskedLMOutput:
        """
        Args:
            input_ids: (B, T) root ids (masked by the collator). attention_mask: (B, T).
            flags: (B, T, F) input flags (all 0 on rows hidden by the collator).
            hidden_flags: (B, T) 1 on rows whose flags the collator hid.
            labels: (B, T) original root ids at selected rows, -100 elsewhere.
            flag_labels: (B, T, F) original flags at selected rows, -100 elsewhere.
            token_type_ids, position_ids, **kwargs: as in :meth:`R2DModel.forward`.

        Returns:
            :class:`R2DMaskedLMOutput`. ``loss`` is set when ``labels`` or ``flag_labels`` is given (a missing
            one counts 0).
        """
        outputs = self.r2d(
            input_ids=input_ids,
            attention_mask=attention_mask,
            flags=flags,
            hidden_flags=hidden_flags,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            **kwargs,
        )
        hidden = outputs.last_hidden_state  # (B, T, H)
        flag_logits = self.flag_head(hidden)  # (B, T, F)
        pos_weight = torch.tensor(self.config.clamped_pos_weight(), device=flag_logits.device)  # (F,)

        loss = mlm_loss = flag_loss = None
        if labels is not None and self.training and self.labelled_rows_only:
            # subtle: training needs the vocabulary projection only on labelled rows (15%): logits are (N, V)
            logits, mlm_loss = labelled_rows_lm_loss(self.lm_head, hidden, labels.to(hidden.device))
        else:
            logits = self.lm_head(hidden)  # (B, T, V)
            if labels is not None:
                mlm_loss = masked_lm_loss(logits, labels.to(logits.device))
        if flag_labels is not None:
            flag_loss = flag_bce_loss(flag_logits, flag_labels.to(flag_logits.device), pos_weight)
        if mlm_loss is not None or flag_loss is not None:
            zero = logits.new_zeros((), dtype=torch.float32)
            loss = (mlm_loss if mlm_loss is not None else zero) + self.config.flag_loss_weight * (
                flag_loss if flag_loss is not None else zero
            )
        return R2DMaskedLMOutput(
            loss=loss,
            mlm_loss=mlm_loss,
            flag_loss=flag_loss,
            logits=logits,
            flag_logits=flag_logits,
            flag_probs=calibrated_flag_probs(flag_logits, pos_weight),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class RobertaForMaskedLMLabelledRows(RobertaForMaskedLM):
    """The RoBERTa baseline with the training forward of :class:`R2DForMaskedLM`: in training mode with ``labels``,
    only the labelled rows go through the vocabulary projection (``logits`` (N, V)); otherwise exactly
    ``RobertaForMaskedLM``. Saves and loads as a plain ``RobertaForMaskedLM`` (same weights, ``model_type``).
    """

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        if not (self.training and labels is not None):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        hidden = self.roberta(input_ids=input_ids, attention_mask=attention_mask, return_dict=True,
                              **kwargs).last_hidden_state  # (B, T, H)
        logits, loss = labelled_rows_lm_loss(self.lm_head, hidden, labels.to(hidden.device))  # (N, V), scalar
        return MaskedLMOutput(loss=loss, logits=logits)


class R2DForSequenceClassification(R2DPreTrainedModel):
    """R2D with RoBERTa's sequence classification/regression head on the ``<s>`` row.

    ``config.problem_type`` works like HF's: ``"regression"`` (MSE; ``num_labels == 1``),
    ``"single_label_classification"`` (cross entropy; long labels) or ``"multi_label_classification"``
    (BCE; float labels (B, num_labels)); inferred from ``num_labels`` and the label dtype when unset.
    """

    # the pretraining heads of an MLM checkpoint are dropped on purpose: no UNEXPECTED rows in the load report
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\.", r"^flag_head\."]
    hideable_flags = True  # the encoder of an MLM checkpoint has the hidden-flags embedding

    def __init__(self, config: R2DConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.r2d = R2DModel(config, add_pooling_layer=False, hideable_flags=self.hideable_flags)
        self.classifier = RobertaClassificationHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        flags: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        hidden_flags: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """
        Args:
            input_ids, attention_mask, flags, hidden_flags, token_type_ids, position_ids: as in
                :meth:`R2DModel.forward`.
            labels: (B,) class ids, (B,) or (B, 1) floats for regression, (B, num_labels) floats for multi-label.

        Returns:
            ``SequenceClassifierOutput`` with ``logits`` (B, num_labels) and ``loss`` when labels are given.
        """
        outputs = self.r2d(
            input_ids=input_ids,
            attention_mask=attention_mask,
            flags=flags,
            hidden_flags=hidden_flags,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            **kwargs,
        )
        logits = self.classifier(outputs.last_hidden_state)  # (B, num_labels)

        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


AutoModel.register(R2DConfig, R2DModel, exist_ok=True)
AutoModelForMaskedLM.register(R2DConfig, R2DForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(R2DConfig, R2DForSequenceClassification, exist_ok=True)


def _register_tokenizer(config_class: type) -> None:
    """``AutoTokenizer`` of a model type -> ``R2DTokenizer`` (whose folders name it in ``tokenizer_config.json``).
    Done on the model side: registering needs a config class, and the tokenizer must load without torch."""
    from r2d.tokenizer.hf import R2DTokenizer

    AutoTokenizer.register(config_class, tokenizer_class=R2DTokenizer, exist_ok=True)


_register_tokenizer(R2DConfig)

__all__ = [
    "R2DConfig",
    "R2DModel",
    "R2DForMaskedLM",
    "RobertaForMaskedLMLabelledRows",
    "R2DForSequenceClassification",
    "R2DMaskedLMOutput",
    "R2DFlagInput",
    "R2DFlagHead",
    "calibrated_flag_probs",
    "labelled_rows_lm_loss",
    "roberta_position_ids",
]
