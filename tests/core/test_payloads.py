"""The data converter: payloads round-trip, and pydantic adapters survive converter copies."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass

from core import payloads
from core.payloads import data_converter


@dataclass(frozen=True)
class Sample:
    name: str
    sizes: list[int]


def test_dataclass_round_trips() -> None:
    converter = data_converter.payload_converter
    [payload] = converter.to_payloads([Sample("a", [1, 2])])
    assert converter.from_payloads([payload], [Sample]) == [Sample("a", [1, 2])]


def test_copies_of_the_converter_share_the_adapter_cache() -> None:
    """The worker copies the converter for each activation: the copy must not start from an
    empty cache (that rebuilt every pydantic schema per activation)."""
    original = data_converter.payload_converter
    [payload] = original.to_payloads([Sample("a", [1])])
    original.from_payloads([payload], [Sample])
    before = payloads._adapter.cache_info()
    for clone in (
        copy.copy(original),
        copy.deepcopy(original),
        pickle.loads(pickle.dumps(original)),
    ):
        assert clone.from_payloads([payload], [Sample]) == [Sample("a", [1])]
    after = payloads._adapter.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 3
