"""The codec as configured: Confluent wire format with a registry, single-object without."""

from __future__ import annotations

from kasper.schemas import Codec
from kasper.schemas.registry import RegistryClient
from kasper.streams.settings import RegistrySettings


def codec_from_settings(registry: RegistrySettings) -> Codec:
    """A codec for ``registry``: ``KASPER_SCHEMA_REGISTRY_URL`` switches the wire format."""
    if not registry.url:
        return Codec()
    password = registry.password.get_secret_value() if registry.password else None
    client = RegistryClient(registry.url, username=registry.username, password=password,
                            timeout_s=registry.timeout_s)
    return Codec(registry=client)
