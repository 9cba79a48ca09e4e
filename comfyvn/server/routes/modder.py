"""The modder hook bus over HTTP and WebSocket, plus signed webhooks."""

from __future__ import annotations

import fnmatch
import time
from typing import Any, Literal

from fastapi import Query, WebSocket
from pydantic import BaseModel, Field

from comfyvn.core import plugins
from comfyvn.core.errors import InvalidInput
from comfyvn.core.modder_hooks import UndeclaredEvent
from comfyvn.server.routing import ServicesDep, WsServicesDep, domain_router
from comfyvn.server.ws import Client, error_message

router = domain_router(prefix="/api/modder/hooks", tags=["modder"])
webhooks_router = domain_router(prefix="/api/modder/hooks/webhooks", tags=["modder"], flag="enable_modder_webhooks")

TOPIC_PREFIX = "modder."


def topic_of(event: str) -> str:
    return TOPIC_PREFIX + event


@router.get("", summary="Declared events, recent history and the plugin host's state")
def overview(services: ServicesDep, limit: int = Query(50, ge=0, le=1000)) -> dict[str, Any]:
    return {
        "events": [spec.as_dict() for _, spec in sorted(services.bus.specs().items())],
        "history": services.bus.history(limit=limit),
        "plugins": plugins.state(),
        "listeners": services.bus.listener_count(),
        "emitted": services.bus.emitted,
        "webhooks": len(services.webhooks.list()),
    }


@router.get("/history", summary="Recent envelopes, oldest first")
def history(services: ServicesDep, limit: int = Query(100, ge=0, le=10000),
            event: str | None = Query(None, description="Event name or wildcard pattern")) -> dict[str, Any]:
    return {"history": services.bus.history(limit=limit, event=event)}


class TestBody(BaseModel):
    event: str = "on_modder_test"
    payload: dict[str, Any] = Field(default_factory=lambda: {"message": "hello from the test endpoint", "data": None})


@router.post("/test", summary="Emit an envelope (its payload must match the event's declaration)")
def emit_test(body: TestBody, services: ServicesDep) -> dict[str, Any]:
    return {"envelope": services.bus.emit(body.event, body.payload)}


# -- WebSocket -----------------------------------------------------------------------------------
def _normalise(services: Any, topics: Any) -> list[str]:
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        raise InvalidInput("topics must be a list of strings such as 'modder.on_job_*'")
    result = []
    for topic in topics:
        if not topic.startswith(TOPIC_PREFIX):
            topic = TOPIC_PREFIX + topic
        name = topic[len(TOPIC_PREFIX):]
        if not any(ch in name for ch in "*?[") and name not in services.bus.specs():
            raise UndeclaredEvent(name)
        result.append(topic)
    return result


class _Subscription:
    def __init__(self) -> None:
        self.patterns: set[str] = set()
        self._memo: dict[str, bool] = {}

    def change(self, add: list[str] = (), remove: list[str] = ()) -> None:  # type: ignore[assignment]
        self.patterns |= set(add)
        self.patterns -= set(remove)
        self._memo = {}

    def __call__(self, topic: str) -> bool:
        hit = self._memo.get(topic)
        if hit is None:
            hit = self._memo[topic] = any(fnmatch.fnmatchcase(topic, p) for p in self.patterns)
        return hit


@router.websocket("/ws")
async def hooks_ws(websocket: WebSocket, services: WsServicesDep, topics: str | None = None) -> None:
    """Send ``{"type": "subscribe", "topics": ["modder.on_*"]}`` to receive envelopes as
    ``{"type": "event", "topic", "event", "payload", "timestamp"}``. ``?topics=a,b`` subscribes at
    connect time. Also: ``unsubscribe``, ``ping`` -> ``pong``; server heartbeats while idle."""
    broadcaster = websocket.app.state.broadcasters["modder"]
    subscription = _Subscription()
    initial_error = None
    if topics:
        try:
            subscription.change(add=_normalise(services, [t for t in topics.split(",") if t]))
        except InvalidInput as exc:
            initial_error = error_message(exc.code, exc.message)

    def setup(client: Client) -> None:
        client.filter = subscription

    def greeting() -> list[dict[str, Any]]:
        hello = {
            "type": "hello",
            "events": sorted(services.bus.specs()),
            "topics": sorted(subscription.patterns),
            "heartbeat_interval": broadcaster.heartbeat_interval,
            "timestamp": time.time(),
        }
        return [hello] + ([initial_error] if initial_error else [])

    async def on_message(client: Client, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            await broadcaster.send(client, error_message("bad_message", f"unknown message type {kind!r}"))
            return
        try:
            topics_given = _normalise(services, message.get("topics"))
        except InvalidInput as exc:
            await broadcaster.send(client, error_message(exc.code, exc.message))
            return
        if kind == "subscribe":
            subscription.change(add=topics_given)
        else:
            subscription.change(remove=topics_given)
        await broadcaster.send(client, {"type": "subscribed", "topics": sorted(subscription.patterns)})

    await broadcaster.serve(websocket, greeting=greeting, on_message=on_message, setup=setup)


# -- webhooks ------------------------------------------------------------------------------------
class WebhookBody(BaseModel):
    action: Literal["register", "list", "delete"] = "register"
    url: str | None = None
    events: list[str] = Field(default_factory=list, description="Event names or patterns, e.g. 'on_job_*'.")
    secret: str | None = Field(default=None, description="HMAC secret (generated when omitted; min 16 chars).")
    description: str = ""
    id: str | None = Field(default=None, description="Webhook id, for action 'delete'.")


@webhooks_router.post("", summary="Register a webhook (or list/delete with 'action')")
def webhooks_post(body: WebhookBody, services: ServicesDep) -> dict[str, Any]:
    if body.action == "list":
        return {"webhooks": services.webhooks.list()}
    if body.action == "delete":
        if not body.id:
            raise InvalidInput("give the 'id' of the webhook to delete", details={"field": "id"})
        return {"deleted": services.webhooks.delete(body.id)}
    if not body.url:
        raise InvalidInput("give the 'url' that should receive events", details={"field": "url"})
    record = services.webhooks.register(url=body.url, events=body.events, secret=body.secret,
                                        description=body.description)
    return {"webhook": {**services.webhooks.public(record), "secret": record["secret"]}}


@webhooks_router.get("", summary="Registered webhooks (secrets redacted)")
def webhooks_list(services: ServicesDep) -> dict[str, Any]:
    return {"webhooks": services.webhooks.list()}


@webhooks_router.get("/deliveries", summary="Delivery log of every webhook")
def deliveries_all(services: ServicesDep, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"deliveries": services.webhooks.deliveries(limit=limit)}


@webhooks_router.get("/{webhook_id}/deliveries", summary="Delivery log of one webhook")
def deliveries(webhook_id: str, services: ServicesDep, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    services.webhooks.get(webhook_id)
    return {"deliveries": services.webhooks.deliveries(webhook_id, limit=limit)}


@webhooks_router.delete("/{webhook_id}", summary="Delete a webhook")
def webhooks_delete(webhook_id: str, services: ServicesDep) -> dict[str, Any]:
    return {"deleted": services.webhooks.delete(webhook_id)}
