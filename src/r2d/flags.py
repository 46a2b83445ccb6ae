"""The flag schema: the ordered flag names that are the columns of every flag matrix.

Four flags are inferred from the string (``NoSpace``, ``FirstCap``, ``AllCaps``, ``Contraction_s``); the others are
affix flags, ``Suffix_<affix>`` or ``Prefix_<affix>``, set from the deconstruction list (``riding -> ride ~ing``).
A schema is plain data saved with the tokenizer; it may leave flags out (``case``: spacing and case only) or add
affixes.

>>> schema = FlagSchema.default()
>>> schema.names[:3]
('NoSpace', 'FirstCap', 'AllCaps')
>>> schema.affix_flags
{'~s': 'Suffix_s', '~ed': 'Suffix_ed', '~ing': 'Suffix_ing'}
>>> FlagSchema.with_affixes(["un~", "~ly"]).names[-2:]
('Prefix_un', 'Suffix_ly')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_SPACE = "NoSpace"
FIRST_CAP = "FirstCap"
ALL_CAPS = "AllCaps"
CONTRACTION_S = "Contraction_s"
INFERRED_FLAGS = (NO_SPACE, FIRST_CAP, ALL_CAPS, CONTRACTION_S)

DEFAULT_FLAG_NAMES = (NO_SPACE, FIRST_CAP, ALL_CAPS, "Suffix_s", "Suffix_ed", "Suffix_ing", CONTRACTION_S)

_AFFIX_NAME = re.compile(r"^(Suffix|Prefix)_([a-z]+)$")

FLAG_SETS: dict[str, tuple[str, ...]] = {
    "case": (NO_SPACE, FIRST_CAP, ALL_CAPS),  # spacing and case alone: what a reversible case transform gives
    "default": DEFAULT_FLAG_NAMES,  # the article's seven
}
"""Named flag sets (:meth:`FlagSchema.parse`); ``default`` is the schema every tokenizer has unless told otherwise."""


def affix_to_flag(affix: str) -> str:
    """``"~ing"`` -> ``"Suffix_ing"``, ``"un~"`` -> ``"Prefix_un"``.

    Raises:
        ValueError: if ``affix`` is not a tilde-format affix of lowercase ASCII letters.
    """
    if re.fullmatch(r"~[a-z]+", affix):
        return "Suffix_" + affix[1:]
    if re.fullmatch(r"[a-z]+~", affix):
        return "Prefix_" + affix[:-1]
    raise ValueError(f"not an affix in tilde format (expected '~ing' or 'un~'): {affix!r}")


def flag_to_affix(name: str) -> str | None:
    """``"Suffix_ing"`` -> ``"~ing"``, ``"Prefix_un"`` -> ``"un~"``; ``None`` for inferred flags."""
    m = _AFFIX_NAME.match(name)
    if m is None:
        return None
    kind, affix = m.groups()
    return "~" + affix if kind == "Suffix" else affix + "~"


@dataclass(frozen=True)
class FlagSchema:
    """Ordered flag names; index ``i`` is column ``i`` of every flag matrix.

    Args:
        names: flag names, each an inferred flag (:data:`INFERRED_FLAGS`) or ``Suffix_<x>``/``Prefix_<x>``.
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if len(set(names)) != len(names):
            raise ValueError(f"flag schema names a flag twice: {list(names)}")
        for n in names:
            if n not in INFERRED_FLAGS and _AFFIX_NAME.match(n) is None:
                raise ValueError(
                    f"unknown flag {n!r}: expected one of {list(INFERRED_FLAGS)} or 'Suffix_<affix>'/'Prefix_<affix>'"
                )

    @classmethod
    def default(cls) -> "FlagSchema":
        """The article's seven flags, in the article's order."""
        return cls(DEFAULT_FLAG_NAMES)

    @classmethod
    def with_affixes(cls, affixes: list[str] | tuple[str, ...]) -> "FlagSchema":
        """The default schema plus one flag per extra tilde-format affix (``"un~"``, ``"~ly"``, ...)."""
        extra = tuple(affix_to_flag(a) for a in affixes if affix_to_flag(a) not in DEFAULT_FLAG_NAMES)
        return cls(DEFAULT_FLAG_NAMES + extra)

    @classmethod
    def parse(cls, spec: str) -> "FlagSchema":
        """A schema from its short form: a named set (:data:`FLAG_SETS`), optionally ``+`` extra affixes, or flag
        names separated by commas.

        >>> FlagSchema.parse("case").names
        ('NoSpace', 'FirstCap', 'AllCaps')
        >>> FlagSchema.parse("default+un~,~ly").names[-2:]
        ('Prefix_un', 'Suffix_ly')

        Raises:
            ValueError: an unknown set, affix or flag name (the message lists the sets).
        """
        base, _, extra = spec.strip().partition("+")
        base = base.strip()
        if base in FLAG_SETS:
            names = FLAG_SETS[base]
        elif "," in base or _AFFIX_NAME.match(base) or base in INFERRED_FLAGS:
            names = tuple(n.strip() for n in base.split(",") if n.strip())
        else:
            raise ValueError(f"unknown flag set {base!r}: expected one of {', '.join(FLAG_SETS)} (optionally "
                             "'+~ly,un~'), or flag names separated by commas")
        affixes = [a.strip() for a in extra.split(",") if a.strip()]
        added = tuple(affix_to_flag(a) for a in affixes)
        return cls(names + tuple(n for n in added if n not in names))

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column of flag ``name``.

        Raises:
            ValueError: the schema has no flag ``name`` (the message lists the flags it has).
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"the flag schema has no flag {name!r}; its flags are {list(self.names)}") from None

    @property
    def affix_flags(self) -> dict[str, str]:
        """Active affixes -> flag name, e.g. ``{"~s": "Suffix_s", ...}`` (the affixes the list may split off)."""
        out = {}
        for n in self.names:
            a = flag_to_affix(n)
            if a is not None:
                out[a] = n
        return out

    def to_list(self) -> list[str]:
        return list(self.names)
