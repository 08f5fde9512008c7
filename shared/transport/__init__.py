"""The two transports behind one interface: Apache Kafka (distributed) and an in-process bus (embedded).

Relays publish through a ``Publisher``; consumers read through a ``Subscriber``. Both transports give
per-partition order, offsets that only grow, and positions a consumer stores itself, so a service cannot
tell which one it runs on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class TopicPartition(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True)
class Message:
    """One record on a topic: ``key`` orders (all of a stream's events share a partition)."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Received:
    """A record as consumed, with where it sits."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        return None


class PublishFailed(Exception):
    """Some messages were not acknowledged. ``acked`` is how many, from the start, were."""

    def __init__(self, acked: int, cause: BaseException) -> None:
        super().__init__(f"{acked} acknowledged before failure: {cause!r}")
        self.acked = acked


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None:
        """Return only when every message is durably acknowledged, in order; else ``PublishFailed``."""


# Called on (re)assignment with the partitions now ours; returns where to resume each of them.
OnAssign = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]


class Subscriber(Protocol):
    async def start(self, topics: Sequence[str], group: str, on_assign: OnAssign) -> None: ...

    async def stop(self) -> None: ...

    async def fetch(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Received]]: ...

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """The next offset each assigned partition will get: consumer lag is this minus our position."""
