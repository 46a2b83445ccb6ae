"""The playground (``r2d serve``): a local web page that shows 2D tokens beside RoBERTa's and streams generation."""

from r2d.serve.app import create_app
from r2d.serve.models import LoadedModel

__all__ = ["LoadedModel", "create_app"]
