"""Command-line arguments declared once, as dataclasses, and parsed by ``transformers.HfArgumentParser``.

Field names become ``--dashed-names``, each attribute docstring (or ``metadata["help"]``) the option's ``--help``
line, booleans get ``--x/--no-x``, and fields with ``metadata={"cli": False}`` are for library use only.

>>> from dataclasses import dataclass
>>> @dataclass
... class Args:
...     out: str
...     '''output folder'''
...     steps: int = 10
...     '''optimizer steps'''
>>> DataclassArgumentParser(Args, prog="demo", description="d", example="demo --out x").parse(["--out", "o"])
Args(out='o', steps=10)
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import inspect
import textwrap
import types
from typing import Any, get_type_hints

from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool


def attribute_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass: the string literal right after each annotated attribute."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):  # pragma: no cover - no source (e.g. built in a REPL)
            continue
        for a, b in zip(body, body[1:]):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr)
                    and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)):
                docs[a.target.id] = " ".join(b.value.value.split())
    return docs


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Description and epilog as written; ``(default: X)`` after options whose default is a value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        value = action.default
        shown = not (value is None or value is False or value is True or value == argparse.SUPPRESS)
        if shown and action.option_strings and not action.required and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class DataclassArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` over one dataclass, with help from attribute docstrings and an example epilog.

    Args:
        dataclass_type: the arguments dataclass.
        prog: e.g. ``"r2d pretrain"``.
        description: what the command does.
        example: one or more example command lines (shown under ``example:``).
        notes: more epilog text, before the example (e.g. a table of presets).
    """

    def __init__(self, dataclass_type: type, *, prog: str, description: str, example: str, notes: str = ""):
        self.docs = attribute_docs(dataclass_type)
        epilog = (notes.rstrip() + "\n\n" if notes else "") + "example:\n  " + example.strip()
        super().__init__(dataclass_type, prog=prog, description=description, epilog=epilog,
                         formatter_class=_HelpFormatter)

    def _add_dataclass_arguments(self, dtype: type) -> None:
        hints = get_type_hints(dtype)
        for f in dataclasses.fields(dtype):
            if not f.init or not f.metadata.get("cli", True):
                continue
            meta = {k: v for k, v in f.metadata.items() if k != "cli"}
            meta["help"] = meta.get("help", self.docs.get(f.name, "")).replace("%", "%%")  # argparse %-formats help
            flag = "--" + f.name.replace("_", "-")
            if hints[f.name] is bool:  # subtle: --x/--no-x, where HfArgumentParser would take "--x [X]"
                self.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                  help=meta["help"])
                continue
            if hints[f.name] == bool | None:  # None = a default decided later: --x, --x true/false, or nothing
                self.add_argument(flag, dest=f.name, nargs="?", const=True, default=f.default, type=string_to_bool,
                                  metavar="true|false", help=meta["help"])
                continue
            g = copy.copy(f)
            g.type, g.metadata = hints[f.name], types.MappingProxyType(meta)
            self._parse_dataclass_field(self, g)
            action = self._option_string_actions[flag] if flag in self._option_string_actions else None
            if action is not None and f"--{f.name}" != flag:  # one spelling: drop the --under_score alias
                action.option_strings.remove(f"--{f.name}")
                del self._option_string_actions[f"--{f.name}"]

    def parse(self, argv: list[str] | None = None) -> Any:
        """Parse ``argv`` into an instance of the dataclass (argparse exits with status 2 on bad arguments)."""
        namespace = self.parse_args(argv)
        return self.dataclass_types[0](**vars(namespace))


__all__ = ["DataclassArgumentParser", "attribute_docs"]
