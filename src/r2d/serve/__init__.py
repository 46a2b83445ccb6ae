"""The playground: a local web page that shows r2d's 2D tokens next to RoBERTa's, and streams generation.

Modules, in the order a request meets them: :mod:`~r2d.serve.models` (causal model folders -> ``LoadedModel``),
:mod:`~r2d.serve.app` (the Starlette app: routes, limits, errors, the generation event stream),
:mod:`~r2d.serve.views` (what the page shows for a text, as JSON-ready dicts). The page itself is ``static/``
(HTML, CSS and one script), shipped in the package. Tokenization is :mod:`r2d.tokenizer`'s and generation
:mod:`r2d.modeling.generation`'s; nothing here trains. The command ``r2d serve`` (options, loading, uvicorn) is
:mod:`r2d.cli.serve`.
"""

from r2d.serve.app import create_app
from r2d.serve.models import LoadedModel

__all__ = ["LoadedModel", "create_app"]
