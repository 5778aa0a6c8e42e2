"""Compute task events over HTTP: the same path as the Redis stream bridge."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from api.deps import SettingsDep, TemporalDep
from core.compute import WEBHOOK_SIGNATURE_HEADER, verify_webhook
from core.compute_events import MalformedEvent, deliver, parse
from models.base import Message
from services.errors import BadRequest, Unauthorized, Unprocessable, WorkflowUnavailable

router = APIRouter(tags=["compute"])


@router.post("/tasks/webhook")
async def compute_webhook(
    request: Request, settings: SettingsDep, temporal: TemporalDep
) -> Message:
    """A signed task event (HMAC-SHA256 of the raw body) → the matching workflow."""
    body = await request.body()
    signature = request.headers.get(WEBHOOK_SIGNATURE_HEADER, "")
    if not verify_webhook(settings.COMPUTE_WEBHOOK_SECRET, body, signature):
        raise Unauthorized("Invalid webhook signature")
    try:
        fields = json.loads(body)
    except ValueError as error:
        raise BadRequest("Body is not JSON") from error
    if not isinstance(fields, dict):
        raise BadRequest("Body must be a JSON object")
    try:
        event = parse(fields)
    except MalformedEvent as error:
        # The stream's parser: what it drops as malformed is refused here, never a 500.
        raise Unprocessable("event", error.problems) from None
    client = await temporal.get()
    if not await deliver(client, event):
        # The sender retries: the event is not lost, only delayed.
        raise WorkflowUnavailable("Could not signal the workflow yet; retry later")
    return Message(message="accepted")
