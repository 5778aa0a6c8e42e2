"""The Temporal data converter: temporalio's pydantic JSON converter with one process-wide
cache of pydantic TypeAdapters.

temporalio keeps its adapter cache on the converter instance and drops it when the instance
is copied (its `__getstate__`); the worker copies the converter for every workflow
activation's serialization context, so each activation rebuilt the pydantic schema of every
payload type it decoded: ~5 % of the worker's CPU in `sartiq bench` P1, spent in
`GenerateSchema`. Adapters are immutable, so sharing them is safe.
"""

from __future__ import annotations

import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

_adapter = functools.lru_cache(maxsize=1024)(TypeAdapter)


def type_adapter(type_hint: Any) -> TypeAdapter[Any]:
    """The shared adapter of a hashable type hint (a fresh one for an unhashable hint)."""
    try:
        return _adapter(type_hint)
    except TypeError:
        try:
            hash(type_hint)
        except TypeError:
            return TypeAdapter(type_hint)
        raise


class SharedCacheJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        return type_adapter(type_hint if type_hint is not None else Any).validate_json(payload.data)


class PayloadConverter(CompositePayloadConverter):
    """temporalio's default converters, JSON replaced by the pydantic one above."""

    def __init__(self) -> None:
        json_converter = SharedCacheJSONPayloadConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = DataConverter(payload_converter_class=PayloadConverter)
