"""Files every package shares: strict UTF-8 text (``.gz`` too), JSON lines, atomic writes of files and folders, and bad
input.

:class:`InputError` says what is wrong with a file in one line (the file, and the line and field where known), which
a command prints before it exits with status 2. Writes go through a temp file and a rename, so a crash leaves the old
file or the new one, never half of one. Imports nothing from r2d.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jsonl"
>>> atomic_write_text(p, '{"step": 1}\\n{"step": 2, "lo')
>>> read_jsonl(p)  # a line cut short by a killed run is skipped (with a warning)
[{'step': 1}]
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import secrets
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


class InputError(ValueError):
    """Bad input, said in one line: the file, the line and field where known, and what is wrong.

    Attributes:
        path: the file (or a name such as ``"<stdin>"``).
        line: 1-based line number, 0 when the problem is not on one line.
        field: the field (column, key) at fault, or None.
        reason: what is wrong.
    """

    def __init__(self, path: str | os.PathLike, reason: str, *, line: int = 0, field: str | None = None):
        self.path, self.line, self.field, self.reason = str(path), line, field, reason
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: field {field!r}: {reason}" if field else f"{where}: {reason}")


def check_file(path: str | os.PathLike, *, what: str = "") -> Path:
    """``path`` as a ``Path`` if it is a readable file; an :class:`InputError` saying why not otherwise.

    Args:
        path: the file.
        what: how the user named it (an option such as ``"--corpus"``), put before the path in messages.
    """
    p = Path(path)
    name = f"{what} {p}" if what else str(p)
    if not p.exists():
        raise InputError(name, "no such file")
    if p.is_dir():
        raise InputError(name, "is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise InputError(name, "cannot read it (permission denied)")
    return p


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes (whatever its name says)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path: str | os.PathLike, *, encoding: str = "utf-8", newline: str | None = None) -> IO[str]:
    """A strict text stream of a file, gzip-decompressed when the file is gzip data (by content, not name).

    Decoding errors surface while reading, as ``UnicodeDecodeError``; :func:`iter_lines` turns them into an
    :class:`InputError` with the line.
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding, newline=newline)
    return open(path, encoding=encoding, newline=newline)


def _file_position(f: IO[str]) -> int:
    """Bytes of the file on disk read so far by a stream of :func:`open_text` (compressed bytes for gzip)."""
    buf = f.buffer  # type: ignore[attr-defined]
    return (buf.fileobj if isinstance(buf, gzip.GzipFile) else buf).tell()


def iter_lines(path: str | os.PathLike, *, encoding: str = "utf-8", newline: str | None = None,
               what: str = "", progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """Lines of a text file (``.gz`` too), line ends kept, checked as they are read.

    Args:
        path: the file.
        encoding: ``"utf-8"``, or ``"utf-8-sig"`` to drop a leading byte-order mark.
        newline: as for :func:`open` (``""`` keeps ``\\r\\n``, as the ``csv`` module wants).
        what: how the user named the file (``"--corpus"``), put before the path in messages.
        progress: called now and then, and at the end, with the bytes of the file read so far.

    Raises:
        InputError: no such file, a folder, not UTF-8 (with line and column), binary data (a NUL byte, with
            line), or broken gzip data.
    """
    p = check_file(path, what=what)
    name = f"{what} {p}" if what else str(p)
    n = 0
    try:
        with open_text(p, encoding=encoding, newline=newline) as f:
            for n, line in enumerate(f, 1):
                if "\x00" in line:
                    raise InputError(name, "binary data (a NUL byte), not text", line=n)
                if progress is not None and n % 4096 == 0:
                    progress(_file_position(f))
                yield line
            if progress is not None:
                progress(_file_position(f))
    except UnicodeDecodeError:
        raise _decode_error(p, name, encoding) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise InputError(name, f"broken gzip data after line {n} ({err or 'cut short'})") from None


def _decode_error(path: Path, name: str, encoding: str) -> InputError:
    """Where the first undecodable byte is (rescans the file: only on the error path)."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as f:
        binary = b"\x00" in f.read(8192)  # subtle: the usual test for binary files (NUL in the first 8 KB)
        f.seek(0)
        for n, raw in enumerate(f, 1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as err:
                at = f"(byte 0x{raw[err.start]:02x} at column {err.start + 1})"
                reason = f"binary data, not text {at}" if binary else f"not UTF-8 text {at}; r2d reads UTF-8 text"
                return InputError(name, reason, line=n)
    return InputError(name, "not UTF-8 text")  # pragma: no cover - the strict reader failed, so a line does


def read_text(path: str | os.PathLike, *, what: str = "", allow_empty: bool = False) -> str:
    """The whole text of a file (``.gz`` too), strictly UTF-8.

    Raises:
        InputError: as :func:`iter_lines`, and for an empty file unless ``allow_empty``.
    """
    text = "".join(iter_lines(path, what=what))
    if not text.strip() and not allow_empty:
        raise InputError(f"{what} {path}" if what else path, "is empty" if not text else "has only white space")
    return text


def read_jsonl(path: str | os.PathLike, *, strict: bool = False) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file, in file order; blank lines are skipped.

    Args:
        path: the file (``.gz`` too).
        strict: a line that is not a JSON object raises (input data); otherwise it is skipped with a warning
            (``metrics.jsonl`` of a run killed mid-write ends in a cut line).

    Raises:
        InputError: the file cannot be read as text; with ``strict``, the first line that is not a JSON object.
    """
    rows = []
    for i, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, expected an object")
        except ValueError as err:
            msg = f"not a JSON object ({err.msg if isinstance(err, json.JSONDecodeError) else err})"
            if strict:
                raise InputError(path, msg, line=i) from None
            logger.warning("%s:%d: %s (a run killed mid-write?), skipped", path, i, msg)
            continue
        rows.append(row)
    return rows


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder, fsync and rename.

    A crash or ``kill -9`` at any moment leaves either the old file or the new one, never half of one. Temp
    files are named ``<name>.<random>.tmp``. A new file gets the usual mode (``0o666`` less the umask, applied
    by the system: the process umask is never read or changed); a replaced file keeps its mode.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 1) -> None:
    """:func:`atomic_write_text` of ``data`` as JSON (never half-written)."""
    atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, tmp: str | os.PathLike | None = None) -> Iterator[Path]:
    """A folder that appears at ``path`` only complete: fill the temp folder this yields beside it; when the block
    ends, it replaces ``path`` (and whatever was there) by a rename; on an exception it is removed, ``path`` untouched.

    Args:
        tmp: the temp folder (emptied first), where several writers must agree on it (every process of a
            multi-process save; a fixed name is also cleared by the next attempt after a kill); default a new
            ``.<name>.<random>.tmp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tmp is None:
        work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        work = Path(tmp)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    try:
        yield work
        if path.exists():
            shutil.rmtree(path)
        os.replace(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
