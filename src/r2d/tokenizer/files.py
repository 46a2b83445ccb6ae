"""The save format of a 2D tokenizer: one folder, four files, and the bundled ``r2d-en``.

Stage 4 of the pipeline, on disk: ``r2d_tokenizer.json`` (format name and version, flag schema, special tokens,
settings), ``bpe.json`` (the root BPE in ``tokenizers``' format), ``deconstruction.tsv`` (the list, tilde
format) and ``tokenizer_config.json`` (only ``tokenizer_class``: how ``transformers.AutoTokenizer`` finds the
class; folders saved before it existed load all the same). This module reads and writes them; building the
tokenizer from what it reads is :class:`r2d.tokenizer.hf.R2DTokenizer`'s job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from r2d.lists.deconstruct import DeconstructionList
from r2d.tokenizer.alphabet import WORD_START

FORMAT_NAME = "r2d-tokenizer"
FORMAT_VERSION = 1
CONFIG_FILE = "r2d_tokenizer.json"
BPE_FILE = "bpe.json"
LIST_FILE = "deconstruction.tsv"
HF_CONFIG_FILE = "tokenizer_config.json"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
BUNDLED = {"r2d-en": "r2d-en"}


def bundled_path(name: str) -> Path:
    """Folder of a bundled tokenizer inside the package."""
    return DATA_DIR / BUNDLED[name]


def is_bundled(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` means a bundled tokenizer: a bundled name that is not also a folder here."""
    return str(name_or_path) in BUNDLED and not Path(name_or_path).exists()


def portable_name(name_or_path: str | os.PathLike) -> str:
    """How to write down a tokenizer so that it loads from any working folder: a bundled name as it is, a folder
    as its absolute path (symbolic links kept as named)."""
    return str(name_or_path) if is_bundled(name_or_path) else os.path.abspath(name_or_path)


def load_list(spec: DeconstructionList | str | os.PathLike | None) -> DeconstructionList | None:
    """``"en"`` -> the bundled English list; a path -> that file (validated); a list or ``None`` as is."""
    if spec is None or isinstance(spec, DeconstructionList):
        return spec
    if str(spec) == "en":
        spec = DATA_DIR / "en.tsv"
    return DeconstructionList.read(spec)


def write_folder(directory: str | os.PathLike, *, bpe, deconstruction_list: DeconstructionList,
                 flag_names: Sequence[str], special_tokens: Mapping[str, int], model_max_length: int,
                 tokenizer_class: str) -> list[str]:
    """Write the four files of a tokenizer to ``directory`` (made if missing); returns their paths.

    Args:
        tokenizer_class: the class name ``AutoTokenizer`` looks up (``"R2DTokenizer"``).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "flag_names": list(flag_names),
        "word_start_marker": WORD_START,
        "special_tokens": dict(special_tokens),
        "model_max_length": model_max_length,
        "vocab_size": bpe.get_vocab_size(with_added_tokens=True),
        "bpe_file": BPE_FILE,
        "deconstruction_list": LIST_FILE,
    }
    (d / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    bpe.save(str(d / BPE_FILE), pretty=True)
    deconstruction_list.write(d / LIST_FILE, header="r2d deconstruction list (tilde format)")
    (d / HF_CONFIG_FILE).write_text(json.dumps({"tokenizer_class": tokenizer_class}, indent=2) + "\n", encoding="utf-8")
    return [str(d / CONFIG_FILE), str(d / BPE_FILE), str(d / LIST_FILE), str(d / HF_CONFIG_FILE)]


def read_folder(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Read a folder written by :func:`write_folder` (or a bundled name): the tokenizer's constructor arguments.

    Raises:
        FileNotFoundError: no such bundled name or folder.
        ValueError: the folder is not an r2d tokenizer, or its version is newer than this r2d.
    """
    path = bundled_path(str(name_or_path)) if is_bundled(name_or_path) else Path(name_or_path)
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"no r2d tokenizer at {str(name_or_path)!r}: expected a folder with {CONFIG_FILE} "
            f"or one of the bundled names {sorted(BUNDLED)}")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("format") != FORMAT_NAME:
        raise ValueError(f"{cfg_path}: 'format' is {cfg.get('format')!r}, expected {FORMAT_NAME!r}")
    if int(cfg.get("version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{cfg_path}: format version {cfg['version']} is newer than this r2d "
                         f"({FORMAT_VERSION}); upgrade r2d")
    from tokenizers import Tokenizer

    bpe = Tokenizer.from_file(str(path / cfg.get("bpe_file", BPE_FILE)))
    list_path = path / cfg.get("deconstruction_list", LIST_FILE)
    lst = DeconstructionList.read(list_path, check_spelling=False) if list_path.is_file() else None
    return dict(bpe=bpe, deconstruction_list=lst, flag_names=cfg["flag_names"],
                model_max_length=cfg.get("model_max_length", 512))
