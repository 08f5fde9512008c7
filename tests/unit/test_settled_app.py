"""A serving process's app, once started, moves what it built out of the collector's full collections."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.app import settled_once_started


async def test_a_settled_app_freezes_the_heap_once_its_own_start_is_done() -> None:
    app = FastAPI()
    seen: list[int] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        seen.append(gc.get_freeze_count())  # its own start: nothing frozen yet
        yield

    app.router.lifespan_context = lifespan
    gc.unfreeze()
    try:
        async with settled_once_started(app).router.lifespan_context(app):
            assert seen == [0]
            assert gc.get_freeze_count() > 0  # what the start built, and everything before it
    finally:
        gc.unfreeze()
