"""Read-your-writes across services: wait, on the server, until one of this service's consumers has
applied a stream up to a version (its checkpoint, not a guess), e.g. after a command to another service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from shared.consumer import applied_version_at_least
from shared.errors import Conflict, NotFound
from shared.security.guard import Guard, Guarded
from shared.security.policy import read

router = APIRouter(tags=["operations"])
WAIT = read("operations.consumer.wait", national=True)


class NotApplied(Conflict):
    title = "Not applied yet"


@router.get(
    "/consumers/{consumer}/streams/{stream_id}",
    summary="Wait until a consumer has applied a stream up to a version",
)
async def applied(
    request: Request,
    consumer: Annotated[
        str, Path(pattern=r"^[a-z][a-z0-9.-]{1,99}$", examples=["monitoring.program-periods"])
    ],
    stream_id: Annotated[str, Path(min_length=1, max_length=200)],
    version: Annotated[int, Query(ge=1, le=1_000_000_000)],
    # Short by default: a client that did not ask to wait hears "not yet" soon (and a fuzzer's
    # random versions do not hold a connection for the longest wait).
    wait_seconds: Annotated[float, Query(ge=0, le=10, description="how long to wait at most")] = 2,
    guard: Guard = Guarded(WAIT),
) -> dict[str, Any]:
    runtime = request.app.state.runtime
    runner = next((c for c in runtime.consumers if c.name == consumer), None)
    if runner is None:
        names = ", ".join(c.name for c in runtime.consumers)
        raise NotFound(f"This service has no consumer {consumer}; it has {names}.")
    if not await applied_version_at_least(runtime.engine, consumer, stream_id, version):
        try:
            await runner.wait_for_stream(stream_id, version, timeout=wait_seconds)
        except TimeoutError as exc:
            raise NotApplied(
                f"{consumer} has not applied {stream_id} v{version} within {wait_seconds:g} s; ask again."
            ) from exc
    return {"consumer": consumer, "stream_id": stream_id, "version": version}
