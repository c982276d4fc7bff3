"""Channels WebSocket consumers: an echo and a per-room broadcast."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Echoes every message; ``close:CODE`` closes with that code."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            if text_data.startswith("close:"):
                await self.close(code=int(text_data.removeprefix("close:")))
                return
            await self.send(text_data=text_data)
        elif bytes_data is not None:
            await self.send(bytes_data=bytes_data)


class BroadcastConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Every text message goes to every session in the same room."""

    async def connect(self) -> None:
        self.group = "room-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.channel_layer.group_send(self.group, {"type": "room.message", "text": text_data})

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
