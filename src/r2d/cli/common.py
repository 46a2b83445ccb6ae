"""What every ``r2d`` subcommand shares: the argument parser with an example, and bad input as one line.

Bad input ends a command with one line on stderr, ``r2d CMD: error: FILE:LINE: what is wrong``, and exit status 2:
never a traceback, never a partial output file. The library says what is wrong (:class:`r2d.io.InputError`);
:func:`guard` prints it.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from r2d.io import InputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with an example in the epilog kept as written, and exit status 2 on bad arguments."""

    def __init__(self, *, prog: str, description: str, example: str, **kwargs):
        super().__init__(prog=prog, description=description, epilog="example:\n  " + example.strip(),
                         formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` to stderr and return exit status 2 (no traceback for user errors)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def below_minimum(args, minimums: dict[str, int]) -> str | None:
    """The first option of ``args`` set below its minimum, said as ``--name must be >= m, got v``; None if none.

    Args:
        args: parsed arguments. minimums: attribute name -> smallest allowed value (unset options pass).
    """
    for name, least in minimums.items():
        value = getattr(args, name)
        if value is not None and value < least:
            return f"--{name.replace('_', '-')} must be >= {least}, got {value}"
    return None


def guard(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a subcommand's ``main``: bad input raised anywhere below it becomes :func:`fail`'s one line.

    Caught: :class:`r2d.io.InputError` (and its kinds: list, task, word-source errors) and ``OSError`` on a
    path the user named (a folder where a file was expected, no permission, a full disk).
    """

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def guarded(argv=None) -> int:
            try:
                return main(argv)
            except InputError as err:
                return fail(prog, str(err))
            except BrokenPipeError:
                raise  # not the user's input: the reader of stdout left (r2d ... | head); r2d.cli.main ends quietly
            except OSError as err:
                where = f"{err.filename}: " if err.filename else ""
                return fail(prog, f"{where}{err.strerror or err}")

        return guarded

    return wrap


def read_stdin() -> str:
    """Standard input as text, strictly UTF-8.

    Raises:
        InputError: ``<stdin>`` is not UTF-8 text or holds binary data (a NUL byte).
    """
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError("<stdin>", f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
                         ) from None
    if "\x00" in text:
        raise InputError("<stdin>", "binary data (a NUL byte), not text")
    return text


def load_tokenizer(name: str):
    """The ``R2DTokenizer`` ``name`` names, its failures as one :class:`InputError` naming ``--tokenizer``."""
    from r2d.tokenizer.loading import load_tokenizer as load

    try:
        return load(name, r2d=True)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        raise InputError(f"--tokenizer {name}", str(err)) from None


def add_device_options(ap: argparse.ArgumentParser) -> None:
    """``--device`` and ``--precision``, as every command that runs a model takes them (:mod:`r2d.device`)."""
    from r2d.device import DEVICE_HELP, PRECISION_HELP, PRECISIONS

    ap.add_argument("--device", default="auto", help=DEVICE_HELP + " (default auto)")
    ap.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP + " (default auto)")


def device_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--device`` (no such device here, a malformed name), or None; the device is not kept."""
    from r2d.device import resolve_device

    try:
        resolve_device(args.device)
    except ValueError as e:
        return f"--device {args.device}: {e}"
    return None
