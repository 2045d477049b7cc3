"""The model runtime's errors: a model that cannot be found, prepared or loaded."""

from __future__ import annotations

from kasper.schemas.errors import KasperError


class ModelError(KasperError):
    """The local model could not be found, prepared or loaded."""


class ModelNotFoundError(ModelError):
    """A configured model directory (``KASPER_MODEL``) is not an mlx-lm model directory."""


class ModelPrepareError(ModelError):
    """Turning the shipped GGUF into an mlx-lm directory failed."""
