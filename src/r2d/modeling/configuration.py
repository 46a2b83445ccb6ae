"""The models' configurations: ``R2DConfig`` (RoBERTa's plus the 2D-input settings, ``model_type = "r2d"``) and
``R2DCausalConfig`` (Llama's plus the same settings, ``model_type = "r2d_causal"``). Needs no torch of its own.

>>> R2DConfig(vocab_size=100, flag_pos_weight=[4.0] * 7, flag_pos_weight_max=2.0).clamped_pos_weight()[:2]
[2.0, 2.0]
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, LlamaConfig, RobertaConfig

# The article's seven flags in the article's order; equal to r2d.flags.DEFAULT_FLAG_NAMES (a test checks it).
# Repeated here so that this file needs only torch and transformers.
ARTICLE_FLAG_NAMES = ("NoSpace", "FirstCap", "AllCaps", "Suffix_s", "Suffix_ed", "Suffix_ing", "Contraction_s")
FLAG_COMBINE_METHODS = ("concat_project", "truncate_concat", "linear_sum")
FLAG_VALUE_MODES = ("binary", "centered")


@strict
class R2DConfig(RobertaConfig):
    """RoBERTa's configuration plus the 2D-input settings.

    Every ``RobertaConfig`` argument is accepted (``vocab_size``, ``hidden_size``, ...). The new ones:

    Args:
        num_flags: F, the number of flag columns. ``None`` = ``len(flag_names)`` (7 by default).
        flag_names: names of the flag columns, in order (the tokenizer's ``flag_names``). ``None`` = the
            article's seven flags when ``num_flags`` is 7 or unset, else ``flag_0 ... flag_{F-1}``.
        flag_combine: how flags meet the word embedding: ``"concat_project"`` (default),
            ``"truncate_concat"`` or ``"linear_sum"`` (:class:`~r2d.modeling.flag_modules.R2DFlagInput`).
        flag_values: ``"binary"`` (0/1, default) or ``"centered"`` (-0.5/+0.5).
        flag_loss_weight: lambda in ``loss = mlm_loss + lambda * flag_loss`` (the article summed: 1.0).
        flag_pos_weight: one ``pos_weight`` per flag for ``BCEWithLogitsLoss`` (typically ``(1 - p) / p`` from
            measured flag rates p); ``None`` = all 1.
        flag_pos_weight_max: clamp applied to ``flag_pos_weight`` in the loss (the article: weights above ~1000
            hurt; default 100).
    """

    model_type = "r2d"

    num_flags: int | None = None
    flag_names: list[str] | tuple[str, ...] | None = None
    flag_combine: str = "concat_project"
    flag_values: str = "binary"
    flag_loss_weight: float | int = 1.0
    flag_pos_weight: list[float] | tuple[float, ...] | None = None
    flag_pos_weight_max: float | int = 100.0

    def __post_init__(self, **kwargs):
        if self.flag_names is None:
            n = 7 if self.num_flags is None else int(self.num_flags)
            self.flag_names = list(ARTICLE_FLAG_NAMES) if n == 7 else [f"flag_{i}" for i in range(n)]
        self.flag_names = [str(n) for n in self.flag_names]
        if self.num_flags is None:
            self.num_flags = len(self.flag_names)
        if self.num_flags != len(self.flag_names):
            raise ValueError(
                f"R2DConfig: num_flags={self.num_flags} but flag_names has {len(self.flag_names)} names: "
                f"{self.flag_names}"
            )
        if self.num_flags < 1:
            raise ValueError(f"R2DConfig: num_flags must be >= 1, got {self.num_flags}")
        if self.flag_combine not in FLAG_COMBINE_METHODS:
            raise ValueError(f"R2DConfig: flag_combine={self.flag_combine!r}; expected one of {FLAG_COMBINE_METHODS}")
        if self.flag_values not in FLAG_VALUE_MODES:
            raise ValueError(f"R2DConfig: flag_values={self.flag_values!r}; expected one of {FLAG_VALUE_MODES}")
        if self.flag_combine == "truncate_concat" and self.hidden_size <= self.num_flags:
            raise ValueError(
                f"R2DConfig: flag_combine='truncate_concat' needs hidden_size > num_flags "
                f"(got hidden_size={self.hidden_size}, num_flags={self.num_flags})"
            )
        if self.flag_pos_weight is not None:
            self.flag_pos_weight = [float(w) for w in self.flag_pos_weight]
            if len(self.flag_pos_weight) != self.num_flags:
                raise ValueError(
                    f"R2DConfig: flag_pos_weight has {len(self.flag_pos_weight)} values for {self.num_flags} flags"
                )
            if any(not w > 0 for w in self.flag_pos_weight):
                raise ValueError(f"R2DConfig: flag_pos_weight must be > 0, got {self.flag_pos_weight}")
        if not self.flag_pos_weight_max > 0:
            raise ValueError(f"R2DConfig: flag_pos_weight_max must be > 0, got {self.flag_pos_weight_max}")
        super().__post_init__(**kwargs)

    def clamped_pos_weight(self) -> list[float]:
        """The per-flag ``pos_weight`` the loss uses: ``flag_pos_weight`` (or 1s) clamped at ``flag_pos_weight_max``."""
        weights = self.flag_pos_weight if self.flag_pos_weight is not None else [1.0] * self.num_flags
        return [min(float(w), float(self.flag_pos_weight_max)) for w in weights]


@strict
class R2DCausalConfig(LlamaConfig):
    """Llama's configuration plus the 2D rows' settings.

    Every ``LlamaConfig`` argument is accepted (``vocab_size``, ``hidden_size``, ``num_hidden_layers``, ...);
    the defaults differ in three places: RoBERTa's special ids (``bos_token_id=0``, ``pad_token_id=1``,
    ``eos_token_id=2``, the layout of both r2d tokenizers) and tied input/output embeddings.

    Args:
        num_flags: F, flag columns per row; 0 makes the 1D twin (no flag input, no flag head). ``None`` =
            ``len(flag_names)`` (7 by default).
        flag_names: names of the flag columns (the tokenizer's ``flag_names``). ``None`` = the article's seven
            when F is 7 or unset, ``flag_0 ...`` otherwise.
        flag_combine: ``"concat_project"`` (default), ``"truncate_concat"`` or ``"linear_sum"``
            (see :mod:`r2d.modeling.encoder`).
        flag_values: ``"binary"`` (0/1, default) or ``"centered"`` (-0.5/+0.5).
    """

    model_type = "r2d_causal"

    num_flags: int | None = None
    flag_names: list[str] | tuple[str, ...] | None = None
    flag_combine: str = "concat_project"
    flag_values: str = "binary"
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.flag_names is None:
            n = 7 if self.num_flags is None else int(self.num_flags)
            self.flag_names = list(ARTICLE_FLAG_NAMES) if n == 7 else [f"flag_{i}" for i in range(n)]
        self.flag_names = [str(n) for n in self.flag_names]
        self.num_flags = len(self.flag_names) if self.num_flags is None else int(self.num_flags)
        f, names = self.num_flags, self.flag_names
        problems = [
            (f != len(names), f"num_flags={f} but flag_names has {len(names)} names: {names}"),
            (f < 0, f"num_flags must be >= 0, got {f}"),
            (self.flag_combine not in FLAG_COMBINE_METHODS,
             f"flag_combine={self.flag_combine!r}; expected one of {FLAG_COMBINE_METHODS}"),
            (self.flag_values not in FLAG_VALUE_MODES,
             f"flag_values={self.flag_values!r}; expected one of {FLAG_VALUE_MODES}"),
            (f > 0 and self.flag_combine == "truncate_concat" and self.hidden_size <= f,
             f"flag_combine='truncate_concat' needs hidden_size > num_flags (got {self.hidden_size} and {f})"),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(f"R2DCausalConfig: {message}")
        super().__post_init__(**kwargs)


AutoConfig.register("r2d", R2DConfig, exist_ok=True)
AutoConfig.register("r2d_causal", R2DCausalConfig, exist_ok=True)

__all__ = ["R2DConfig", "R2DCausalConfig", "ARTICLE_FLAG_NAMES", "FLAG_COMBINE_METHODS", "FLAG_VALUE_MODES"]
