"""Command-line arguments declared once, as dataclasses: each field becomes a ``--dashed-name`` option whose
``--help`` line is its ``metadata["help"]`` (as ``transformers.HfArgumentParser`` reads them).

Booleans get ``--x/--no-x``, ``bool | None`` fields take ``--x``, ``--x true|false`` or nothing (``None``: decided
later), ``Literal`` fields their choices, lists one or more values; fields with ``metadata={"cli": False}`` are for
library use only.

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Args:
...     out: str = field(metadata={"help": "output folder"})
...     steps: int = field(default=10, metadata={"help": "optimizer steps"})
>>> DataclassArgumentParser(Args, prog="demo", description="d", example="demo --out x").parse(["--out", "o"])
Args(out='o', steps=10)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, get_type_hints

from transformers.hf_argparser import string_to_bool


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Description and epilog as written; ``(default: X)`` after options whose default is a value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        value = action.default
        shown = not (value is None or value is False or value is True or value == argparse.SUPPRESS)
        if shown and action.option_strings and not action.required and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def option(f: dataclasses.Field, hint: Any) -> dict[str, Any]:
    """The ``add_argument`` keywords of one dataclass field with type ``hint``."""
    kwargs: dict[str, Any] = {"help": f.metadata.get("help", "").replace("%", "%%")}  # argparse %-formats help
    if "metavar" in f.metadata:
        kwargs["metavar"] = f.metadata["metavar"]
    if f.default is not dataclasses.MISSING:
        kwargs["default"] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        kwargs["default"] = f.default_factory()
    else:
        kwargs["required"] = True
    if hint is bool:
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if hint == bool | None:
        return {"metavar": "true|false", **kwargs, "nargs": "?", "const": True, "type": string_to_bool}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))  # X | None -> X
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return {**kwargs, "choices": choices, "type": type(choices[0])}
    if typing.get_origin(hint) is list:
        return {**kwargs, "nargs": "+", "type": typing.get_args(hint)[0]}
    return {**kwargs, "type": hint}


class DataclassArgumentParser(argparse.ArgumentParser):
    """An argument parser over one dataclass, with an example (and notes) in the epilog.

    Args:
        dataclass_type: the arguments dataclass.
        prog: e.g. ``"r2d pretrain"``.
        description: what the command does.
        example: one or more example command lines (shown under ``example:``).
        notes: more epilog text, before the example (e.g. a table of presets).
    """

    def __init__(self, dataclass_type: type, *, prog: str, description: str, example: str, notes: str = ""):
        epilog = (notes.rstrip() + "\n\n" if notes else "") + "example:\n  " + example.strip()
        super().__init__(prog=prog, description=description, epilog=epilog, formatter_class=_HelpFormatter)
        self.dataclass_type = dataclass_type
        hints = get_type_hints(dataclass_type)
        for f in dataclasses.fields(dataclass_type):
            if f.init and f.metadata.get("cli", True):
                self.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **option(f, hints[f.name]))

    def parse(self, argv: list[str] | None = None) -> Any:
        """Parse ``argv`` into an instance of the dataclass (argparse exits with status 2 on bad arguments)."""
        return self.dataclass_type(**vars(self.parse_args(argv)))


__all__ = ["DataclassArgumentParser", "option"]
