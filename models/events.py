"""WebSocket message schemas (DESIGN §7), published by `GET /api/v1/schema`.

Every message a server sends is one member of `ServerMessage`, discriminated by `type`; a new
kind is added to that union and appears in the schema without further work. Event messages
share the envelope `{"id", "type", "ts", "payload"}` built by `core.events.publish`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from models.generation import GenerationPublic
from models.shot import ShotPublic


class _Envelope(BaseModel):
    id: str = Field(description="Global, increasing event id; reconnect with it as last_event_id")
    ts: datetime = Field(description="When the event was published (UTC)")


class GenerationMessage(_Envelope):
    """A generation changed (created, progressed, finished)."""

    type: Literal[
        "generation.created",
        "generation.updated",
        "generation.completed",
        "generation.failed",
        "generation.cancelled",
    ]
    payload: GenerationPublic


class ShotMessage(_Envelope):
    """A shot or its current revision changed."""

    type: Literal["shot.updated"]
    payload: ShotPublic


class ExportMessage(_Envelope):
    type: Literal["export.updated", "export.completed", "export.failed"]
    payload: dict[str, Any]


class BulkUploadMessage(_Envelope):
    type: Literal["bulk_upload.progress", "bulk_upload.completed", "bulk_upload.failed"]
    payload: dict[str, Any]


class AuthSuccessMessage(BaseModel):
    """The socket is authenticated; events follow. `context.last_event_id` is the position
    just before the first event this socket delivers (reconnect from it if none arrives)."""

    type: Literal["auth.success"] = "auth.success"
    user_id: uuid.UUID
    organization_ids: list[uuid.UUID]
    context: dict[str, Any] = {}


class AuthErrorMessage(BaseModel):
    """Authentication failed; the server closes the socket (code 1008)."""

    type: Literal["auth.error"] = "auth.error"
    error: str


class ResyncMessage(BaseModel):
    """Some events cannot be replayed (too old, too many, unknown last_event_id): reload the
    state over REST; events after this message are complete again."""

    type: Literal["resync"] = "resync"
    reason: str


class PongMessage(BaseModel):
    type: Literal["pong"] = "pong"


ServerMessage = Annotated[
    GenerationMessage
    | ShotMessage
    | ExportMessage
    | BulkUploadMessage
    | AuthSuccessMessage
    | AuthErrorMessage
    | ResyncMessage
    | PongMessage,
    Field(discriminator="type"),
]


class WebSocketTicket(BaseModel):
    """Answer of POST /ws/ticket: open `GET /api/v1/ws?ticket=<ticket>` within
    `expires_in` seconds, once."""

    ticket: str
    expires_in: int


class AuthClientMessage(BaseModel):
    """The first message, when the socket was not opened with a `?ticket=`."""

    type: Literal["auth"]
    token: str
    last_event_id: str | None = None


class PingClientMessage(BaseModel):
    """Answered with `{"type": "pong"}`."""

    type: Literal["ping"]


ClientMessage = Annotated[AuthClientMessage | PingClientMessage, Field(discriminator="type")]

server_message_adapter: TypeAdapter[Any] = TypeAdapter(ServerMessage)
client_message_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def message_types(adapter: TypeAdapter[Any]) -> list[str]:
    """Every `type` value of a message union, in declaration order."""
    return list(adapter.json_schema()["discriminator"]["mapping"])


def websocket_schema() -> dict[str, Any]:
    """One JSON Schema document (shared `$defs`) for both directions of the socket."""
    keys, top = TypeAdapter.json_schemas(
        [
            ("server", "serialization", server_message_adapter),
            ("client", "validation", client_message_adapter),
        ],
        title="Sartiq WebSocket messages",
        description="Messages of GET /api/v1/ws: `server` ones are sent, `client` ones received.",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **top,
        "type": "object",
        "properties": {
            "server": keys[("server", "serialization")],
            "client": keys[("client", "validation")],
        },
        "x-message-types": {
            "server": message_types(server_message_adapter),
            "client": message_types(client_message_adapter),
        },
    }
