"""kasper.schemas: the pipeline's Avro contracts (``*.avsc``) and the codec for them.

    from kasper.schemas import Codec, Where
    codec = Codec()                                   # single-object encoding
    data = codec.encode("PromptEvent", record)
    decoded = codec.decode(data, expect="PromptEvent", where=Where("kasper.prompts", 2, 1234))

With a schema registry: ``Codec(RegistryClient(url))`` writes the Confluent wire
format. ``check_package()`` checks the schemas against every released version.
"""

from .codec import (
    RECORD_NAMES,
    Codec,
    ParsedSchemas,
    Decoded,
    fingerprint,
    full_name,
    parsed_schema,
    schema_json,
    standalone_schema,
    validate,
)
from .compat import check_all, check_compatible, check_package
from .errors import (
    CodecError,
    DecodeError,
    GarbageBytesError,
    KasperError,
    RegistryError,
    SchemaDefinitionError,
    SchemaValidationError,
    TrailingBytesError,
    TruncatedRecordError,
    UnknownFormatError,
    UnknownRecordError,
    UnknownSchemaError,
    Where,
    WrongRecordError,
)
from .jsonio import from_json, to_json
from .registry import RegistryClient

__all__ = [
    "RECORD_NAMES",
    "Codec",
    "ParsedSchemas",
    "CodecError",
    "DecodeError",
    "Decoded",
    "GarbageBytesError",
    "KasperError",
    "RegistryClient",
    "RegistryError",
    "SchemaDefinitionError",
    "SchemaValidationError",
    "TrailingBytesError",
    "TruncatedRecordError",
    "UnknownFormatError",
    "UnknownRecordError",
    "UnknownSchemaError",
    "Where",
    "WrongRecordError",
    "check_all",
    "check_compatible",
    "check_package",
    "fingerprint",
    "from_json",
    "full_name",
    "parsed_schema",
    "schema_json",
    "standalone_schema",
    "to_json",
    "validate",
]
