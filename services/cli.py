"""The ``p2kp`` command: run the platform (embedded or one service), and operate it."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from shared.logging import configure_logging
from shared.settings import ServiceSettings

app = typer.Typer(no_args_is_help=True, help="P2KP Platform: urban poverty-program monitoring and handover.")


@app.command()
def run(
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Start the whole platform in one process (embedded mode: SQLite, no Kafka)."""
    from services.platform import build_embedded

    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_json)
    typer.echo(f"P2KP Platform (embedded) on http://{host}:{port}/  — data in {settings.data_dir.resolve()}")
    uvicorn.run(build_embedded(), host=host, port=port, log_config=None, access_log=False)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="targeting, institutions, ledger, handover or monitoring")],
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """Start one service on its own (distributed mode: PostgreSQL and Kafka from P2KP_* settings)."""
    from services.platform import BUILDERS

    if service not in BUILDERS:
        raise typer.BadParameter(f"unknown service {service!r}; choose one of {', '.join(BUILDERS)}")
    os.environ.setdefault("P2KP_MODE", "distributed")
    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(BUILDERS[service](), host=host, port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    app()
