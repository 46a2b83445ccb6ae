"""The models' configurations: ``R2DConfig`` (RoBERTa's plus the 2D-input settings, ``model_type = "r2d"``),
``R2DCausalConfig`` (Llama's plus the same settings, ``model_type = "r2d_causal"``) and the ELECTRA pair's:
``R2DElectraConfig`` (``"r2d_electra"``) and its 1D twin's ``ElectraTwinConfig`` (``"electra_twin"``). Needs no
torch of its own.

>>> R2DConfig(vocab_size=100, flag_pos_weight=[4.0] * 7, flag_pos_weight_max=2.0).clamped_pos_weight()[:2]
[2.0, 2.0]
"""

from __future__ import annotations

import dataclasses

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, ElectraConfig, LlamaConfig, RobertaConfig

# The article's seven flags in the article's order; equal to r2d.flags.DEFAULT_FLAG_NAMES (a test checks it).
# Repeated here so that this file needs only torch and transformers.
ARTICLE_FLAG_NAMES = ("NoSpace", "FirstCap", "AllCaps", "Suffix_s", "Suffix_ed", "Suffix_ing", "Contraction_s")
FLAG_COMBINE_METHODS = ("concat_project", "truncate_concat", "linear_sum")
FLAG_VALUE_MODES = ("binary", "centered")


def _check_flag_settings(config, name: str, *, least: int) -> None:
    """Fill ``flag_names`` and ``num_flags`` from each other and raise ``ValueError`` (``name: ...``) on the first
    flag setting out of range: the two disagree, fewer than ``least`` flags, an unknown ``flag_combine`` or
    ``flag_values``, or ``truncate_concat`` without room for the flags."""
    if config.flag_names is None:
        n = 7 if config.num_flags is None else int(config.num_flags)
        config.flag_names = list(ARTICLE_FLAG_NAMES) if n == 7 else [f"flag_{i}" for i in range(n)]
    config.flag_names = [str(n) for n in config.flag_names]
    config.num_flags = len(config.flag_names) if config.num_flags is None else int(config.num_flags)
    f, names = config.num_flags, config.flag_names
    problems = [
        (f != len(names), f"num_flags={f} but flag_names has {len(names)} names: {names}"),
        (f < least, f"num_flags must be >= {least}, got {f}"),
        (config.flag_combine not in FLAG_COMBINE_METHODS,
         f"flag_combine={config.flag_combine!r}; expected one of {FLAG_COMBINE_METHODS}"),
        (config.flag_values not in FLAG_VALUE_MODES,
         f"flag_values={config.flag_values!r}; expected one of {FLAG_VALUE_MODES}"),
        (f > 0 and config.flag_combine == "truncate_concat" and config.hidden_size <= f,
         f"flag_combine='truncate_concat' needs hidden_size > num_flags (got hidden_size={config.hidden_size}, "
         f"num_flags={f})"),
    ]
    for bad, message in problems:
        if bad:
            raise ValueError(f"{name}: {message}")


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
        _check_flag_settings(self, "R2DConfig", least=1)
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
        _check_flag_settings(self, "R2DCausalConfig", least=0)
        super().__post_init__(**kwargs)


# ------------------------------------------------------------------------------------------------- ELECTRA


@dataclasses.dataclass
class ElectraSettings:
    """The fields both ELECTRA configs add to their discriminator's config.

    Args:
        generator_hidden_size, generator_num_hidden_layers, generator_num_attention_heads,
        generator_intermediate_size: the generator's sizes; ``None`` = the discriminator's, except the depth
            (a third of its layers, at least 1).
        share_embeddings: the generator reads and writes the discriminator's token (root) embeddings (needs the
            same width).
        discriminator_weight: lambda in ``loss = generator loss + lambda * discriminator loss`` (ELECTRA: 50).
    """

    generator_hidden_size: int | None = None
    generator_num_hidden_layers: int | None = None
    generator_num_attention_heads: int | None = None
    generator_intermediate_size: int | None = None
    share_embeddings: bool = True
    discriminator_weight: float | int = 50.0

    _generator_class = None  # the generator's config class (the discriminator config's parent), set by each config
    # what the config of an ELECTRA generator does not copy from its discriminator's
    _NOT_INHERITED = ("transformers_version", "architectures", "id2label", "label2id", "problem_type")

    def check_electra(self) -> None:
        """Raise ``ValueError`` naming the first ELECTRA setting out of range."""
        name, width = type(self).__name__, self.generator_hidden_size
        if self.share_embeddings and width not in (None, self.hidden_size):
            raise ValueError(f"{name}: share_embeddings needs generator_hidden_size == hidden_size (got {width} and "
                             f"{self.hidden_size}); set share_embeddings=False for a narrower generator")
        for field in ("generator_hidden_size", "generator_num_hidden_layers", "generator_num_attention_heads",
                      "generator_intermediate_size"):
            if getattr(self, field) is not None and getattr(self, field) < 1:
                raise ValueError(f"{name}: {field} must be >= 1, got {getattr(self, field)}")
        if not self.discriminator_weight > 0:
            raise ValueError(f"{name}: discriminator_weight must be > 0, got {self.discriminator_weight}")

    def generator_config(self):
        """The generator's config (an ``R2DConfig``, the twin's an ``ElectraConfig``): the discriminator's settings
        with the ``generator_*`` sizes."""
        base = self._generator_class
        names = [f.name for f in dataclasses.fields(base) if f.name not in self._NOT_INHERITED]
        sizes = dict(hidden_size=self.generator_hidden_size or self.hidden_size,
                     num_hidden_layers=self.generator_num_hidden_layers or max(1, self.num_hidden_layers // 3),
                     num_attention_heads=self.generator_num_attention_heads or self.num_attention_heads,
                     intermediate_size=self.generator_intermediate_size or self.intermediate_size)
        return base(**{**{n: getattr(self, n) for n in names}, **sizes})


@strict
class R2DElectraConfig(ElectraSettings, R2DConfig):
    """The R2D ELECTRA pair (:mod:`r2d.modeling.electra`): ``R2DConfig``'s fields describe the discriminator (and
    what the generator copies), :class:`ElectraSettings`' the generator and the loss, and two more the flags'.

    Args:
        flag_change_pos_weight: ``pos_weight`` of the "changed" class of each flag in the discriminator's
            flag-change loss (changes are rare); one number for all flags or one per flag; ``None`` = 1.
        flag_patterns: the flag rows that occur (0/1 lists of F values, e.g. measured on the training rows): a
            sampled replacement's flags are drawn among them only; ``None`` = any pattern.
    """

    model_type = "r2d_electra"
    _generator_class = R2DConfig

    flag_change_pos_weight: list[float] | tuple[float, ...] | float | int | None = None
    flag_patterns: list[list[int]] | tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.check_electra()
        f, weight = self.num_flags, self.flag_change_pos_weight
        weights = [1.0] * f if weight is None else [float(weight)] * f if isinstance(weight, (int, float)) else [
            float(w) for w in weight]
        if len(weights) != f or any(not w > 0 for w in weights):
            raise ValueError(f"R2DElectraConfig: flag_change_pos_weight must be one number > 0 or {f} of them, "
                             f"got {weight}")
        self.flag_change_pos_weight = weights
        if self.flag_patterns is not None:
            patterns = sorted({tuple(int(v) for v in row) for row in self.flag_patterns})
            if not patterns or any(len(row) != f or not set(row) <= {0, 1} for row in patterns):
                raise ValueError(f"R2DElectraConfig: flag_patterns must be rows of {f} values 0/1, got "
                                 f"{self.flag_patterns}")
            self.flag_patterns = [list(row) for row in patterns]


@strict
class ElectraTwinConfig(ElectraSettings, ElectraConfig):
    """The 1D twin of :class:`R2DElectraConfig`: ``ElectraConfig``'s fields describe the discriminator,
    :class:`ElectraSettings`' the generator and the loss.

    The defaults differ from ``ElectraConfig``'s where the twin must match R2D: ``embedding_size`` ``None`` = the
    hidden size (no projection, as R2D's encoder) and RoBERTa's special ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2).
    """

    model_type = "electra_twin"
    _generator_class = ElectraConfig

    embedding_size: int | None = None
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self, **kwargs):
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size
        self.check_electra()
        super().__post_init__(**kwargs)


AutoConfig.register("r2d", R2DConfig, exist_ok=True)
AutoConfig.register("r2d_causal", R2DCausalConfig, exist_ok=True)
AutoConfig.register("r2d_electra", R2DElectraConfig, exist_ok=True)
AutoConfig.register("electra_twin", ElectraTwinConfig, exist_ok=True)

__all__ = ["R2DConfig", "R2DCausalConfig", "R2DElectraConfig", "ElectraTwinConfig", "ElectraSettings",
           "ARTICLE_FLAG_NAMES", "FLAG_COMBINE_METHODS", "FLAG_VALUE_MODES"]
