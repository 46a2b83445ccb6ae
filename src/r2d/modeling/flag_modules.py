"""The 2D ends the MLM and causal models share: the flag input (root embedding + flag row -> ``inputs_embeds``) and
the MLM's flag head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import gelu

from r2d.modeling.configuration import R2DConfig


class R2DFlagInput(nn.Module):
    """Combines word embeddings (B, T, H) with flag rows (B, T, F) into ``inputs_embeds`` (B, T, H).

    ``config.flag_combine`` picks one of the article's three methods:

    - ``"concat_project"`` (default): ``[embedding ; flags] -> Linear(H + F, H)``, initialised so that the
      embedding part is the identity (at step 0 the input is RoBERTa's plus a small flag term);
    - ``"truncate_concat"``: the first ``H - F`` embedding columns, then the F flag values (no parameters);
    - ``"linear_sum"``: ``embedding + Linear(F, H, no bias)(flags)``.

    Flags enter as 0/1 or, with ``flag_values="centered"``, -0.5/+0.5. With ``hideable=True`` (the MLM encoder),
    rows whose flags the collator hid get a learned ``hidden_embedding`` (H) instead of flag values, so a hidden row
    is never read as an all-off one. Parameters are initialised by ``R2DPreTrainedModel._init_weights``.
    """

    def __init__(self, config: R2DConfig, *, hideable: bool = False):
        super().__init__()
        self.method = config.flag_combine
        self.centered = config.flag_values == "centered"
        self.hidden_size, self.num_flags = config.hidden_size, config.num_flags
        h, f = self.hidden_size, self.num_flags
        if self.method == "concat_project":
            self.weight = nn.Parameter(torch.empty(h, h + f))
            self.bias = nn.Parameter(torch.zeros(h))
        elif self.method == "linear_sum":
            self.weight = nn.Parameter(torch.empty(h, f))
        self.hidden_embedding = nn.Parameter(torch.zeros(h)) if hideable else None

    def flag_values(self, flags: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Flags (B, T, F) of 0/1 -> the numbers the model sees: 0/1 or -0.5/+0.5, in ``dtype``."""
        values = flags.to(dtype)
        return values - 0.5 if self.centered else values

    def forward(self, word_embeds: torch.Tensor, flags: torch.Tensor,
                hidden_flags: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            word_embeds: (B, T, H) embeddings of the root ids.
            flags: (B, T, F) 0/1 flags (any numeric dtype).
            hidden_flags: (B, T) 1 on rows whose flags are hidden (MLM), else 0; ``None`` = none hidden.

        Returns:
            (B, T, H) input embeddings for the RoBERTa backbone.
        """
        values = self.flag_values(flags, word_embeds.dtype)  # (B, T, F)
        hidden = None
        if hidden_flags is not None:
            if self.hidden_embedding is None:
                raise ValueError("this flag input cannot hide flags (built with hideable=False); drop hidden_flags")
            hidden = hidden_flags.to(word_embeds.dtype).unsqueeze(-1)  # (B, T, 1)
            values = values * (1 - hidden)  # subtle: no values at all, not "all off" (-0.5 when centered)
        if self.method == "concat_project":
            embeds = F.linear(torch.cat([word_embeds, values], dim=-1), self.weight, self.bias)  # (B, T, H)
        elif self.method == "truncate_concat":
            keep = self.hidden_size - self.num_flags
            embeds = torch.cat([word_embeds[..., :keep], values], dim=-1)  # (B, T, H)
        else:
            embeds = word_embeds + F.linear(values, self.weight)  # (B, T, H)
        if hidden is not None:
            embeds = embeds + hidden * self.hidden_embedding  # (B, T, H)
        return embeds


class R2DFlagHead(nn.Module):
    """The flag head: like ``RobertaLMHead`` (dense, gelu, layer norm, decoder) with F outputs, one logit per flag.

    With ``root_conditioned=True`` it reads ``[h ; E[root]]`` (2H): the flags of a given root (the ELECTRA
    generator's, which samples a root first), so what a flag means can depend on the root.
    """

    def __init__(self, config: R2DConfig, *, root_conditioned: bool = False):
        super().__init__()
        h = config.hidden_size
        self.root_conditioned = root_conditioned
        self.dense = nn.Linear(2 * h if root_conditioned else h, h)
        self.layer_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(h, config.num_flags)

    def forward(self, features: torch.Tensor, root_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """(..., H) hidden states (and (..., H) root embeddings when root-conditioned) -> (..., F) flag logits."""
        if self.root_conditioned != (root_embeds is not None):
            raise ValueError(f"this flag head {'needs' if self.root_conditioned else 'takes no'} root_embeds")
        if root_embeds is not None:
            features = torch.cat([features, root_embeds], dim=-1)  # (..., 2H)
        return self.decoder(self.layer_norm(gelu(self.dense(features))))


__all__ = ["R2DFlagInput", "R2DFlagHead"]
