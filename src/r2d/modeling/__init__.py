"""Models that read flags and predict them: configurations, the MLM, ELECTRA and causal models, their losses and
batches, sampling and generation.

This file imports neither torch nor transformers: :func:`register_with_auto_classes` (run by ``import r2d``)
registers r2d's configs, models and tokenizer with transformers' Auto classes when transformers loads them, so that
``import r2d`` stays light and ``AutoModelForCausalLM.from_pretrained(folder)`` still works after it.
"""

from __future__ import annotations

import importlib
import sys


def _register_configs() -> None:
    importlib.import_module("r2d.modeling.configuration")  # AutoConfig: "r2d", "r2d_causal", "r2d_electra", ...


def _register_tokenizers() -> None:
    from transformers.models.auto.tokenization_auto import AutoTokenizer

    from r2d.modeling.configuration import R2DCausalConfig, R2DConfig, R2DElectraConfig
    from r2d.tokenizer.hf import R2DTokenizer

    for config_class in (R2DConfig, R2DCausalConfig, R2DElectraConfig):
        AutoTokenizer.register(config_class, tokenizer_class=R2DTokenizer, exist_ok=True)


def _register_models() -> None:
    for module in ("r2d.modeling.encoder", "r2d.modeling.causal", "r2d.modeling.electra"):  # AutoModel, AutoModelFor*
        importlib.import_module(module)


# transformers' Auto module -> the registration that needs it (configuration_auto loads first: the others import it)
_AUTO_MODULES = {
    "transformers.models.auto.configuration_auto": _register_configs,
    "transformers.models.auto.tokenization_auto": _register_tokenizers,
    "transformers.models.auto.modeling_auto": _register_models,
}


_pending: list = []  # registrations asked for while a module of transformers or r2d was still importing
_executing: list[str] = []  # modules of transformers and r2d running their import now (innermost last)
_ran: set = set()  # registrations run (or tried): once all have, the finder leaves sys.meta_path


def _request(register=None) -> None:
    """Run ``register`` (and any that waited) now, or once no module of transformers or r2d is half imported:
    a registration imports r2d's model modules and transformers' own, and those import one another (transformers
    loads its Auto modules while its configs import), so it waits for the outermost import to end."""
    if register is not None and register not in _pending:
        _pending.append(register)
    while _pending and not _executing:
        register = _pending.pop(0)
        _ran.add(register)
        try:
            register()
        except Exception as e:  # subtle: never break the user's import of transformers (e.g. one without torch)
            import logging  # here: importing it costs more than the rest of `import r2d`

            logging.getLogger(__name__).warning("r2d: could not register its classes with transformers' Auto classes (%s: %s)",
                           type(e).__name__, e)
    if not _executing and len(_ran) == len(_AUTO_MODULES) and _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)  # every registration done: later imports no longer pass through it


class _ThenRegister:
    """A module loader that notes while the module it loads runs, then asks for the registration it makes possible
    (a transformers Auto module's) and runs those that waited for it."""

    def __init__(self, loader, name: str, register=None):
        self.loader, self.name, self.register = loader, name, register

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        _executing.append(self.name)
        try:
            self.loader.exec_module(module)
        finally:
            _executing.remove(self.name)
        _request(self.register)

    def __getattr__(self, name):  # get_source, get_code, get_resource_reader, ...: the real loader's
        return getattr(self.loader, name)


class _AutoRegistration:
    """A ``sys.meta_path`` finder: the modules of transformers and r2d load as usual, through
    :class:`_ThenRegister`."""

    def __init__(self):
        self.busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        if not (fullname == "transformers" or fullname.startswith(_WATCHED)) or fullname in self.busy:
            return None
        self.busy.add(fullname)
        try:
            from importlib.util import find_spec

            spec = find_spec(fullname)  # the other finders' answer
        finally:
            self.busy.discard(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader, fullname, _AUTO_MODULES.get(fullname))
        return spec


_WATCHED = ("transformers.", "r2d.")
_FINDER = _AutoRegistration()


def register_with_auto_classes() -> None:
    """Register r2d's configs, models and tokenizers with transformers' Auto classes: now for the Auto modules
    already loaded, for the others as soon as transformers loads them (imports nothing heavy itself)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for module, register in _AUTO_MODULES.items():
        if module in sys.modules:
            _request(register)
