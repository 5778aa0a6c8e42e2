"""GET /api/v1/schema: every message kind, both directions, one JSON Schema document."""

from __future__ import annotations

from tests.helpers import Api

SERVER_TYPES = {
    "generation.created",
    "generation.updated",
    "generation.completed",
    "generation.failed",
    "generation.cancelled",
    "shot.updated",
    "export.updated",
    "export.completed",
    "export.failed",
    "bulk_upload.progress",
    "bulk_upload.completed",
    "bulk_upload.failed",
    "auth.success",
    "auth.error",
    "resync",
    "pong",
}


async def test_get_schema_lists_every_message_type_without_auth(api: Api) -> None:
    response = await api.get("/schema")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["x-message-types"]["server"]) == SERVER_TYPES
    assert set(schema["x-message-types"]["client"]) == {"auth", "ping"}
    server = schema["properties"]["server"]["discriminator"]["mapping"]
    assert set(server) == SERVER_TYPES
    assert set(schema["properties"]["client"]["discriminator"]["mapping"]) == {"auth", "ping"}


async def test_get_schema_resolves_every_reference(api: Api) -> None:
    schema = (await api.get("/schema")).json()
    defs = schema["$defs"]
    assert {"GenerationMessage", "ShotMessage", "GenerationPublic", "ShotPublic"} <= set(defs)
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    assert refs and all(ref.removeprefix("#/$defs/") in defs for ref in refs)
    envelope = defs["GenerationMessage"]
    assert set(envelope["required"]) >= {"id", "type", "ts", "payload"}
    assert envelope["properties"]["payload"] == {"$ref": "#/$defs/GenerationPublic"}
