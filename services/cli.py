"""The ``p2kp`` command: run the platform (embedded or one service), and operate it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from shared.app import settled_once_started
from shared.logging import configure_logging
from shared.security.accounts import AccountStore
from shared.settings import ServiceSettings

app = typer.Typer(no_args_is_help=True, help="P2KP Platform: urban poverty-program monitoring and handover.")


@app.command()
def run(
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo/--no-demo",
            envvar="P2KP_DEMO_SEED",
            help="On first start (no data yet) seed a demo program, Kota Semarang, in the background",
        ),
    ] = True,
    demo_kelurahan: Annotated[
        int | None,
        typer.Option(min=1, envvar="P2KP_DEMO_KELURAHAN", help="Seed this many kelurahan (default: all)"),
    ] = None,
) -> None:
    """Start the whole platform in one process (embedded mode: SQLite, no Kafka)."""
    from services.platform import build_embedded

    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_json)
    platform = build_embedded()
    credentials = asyncio.run(_demo_credentials(platform.state.accounts, settings.data_dir))
    typer.echo(f"P2KP Platform (embedded) on http://{host}:{port}/  — data in {settings.data_dir.resolve()}")
    typer.echo(f"Sign in at http://{host}:{port}/login as")
    for line in credentials:
        typer.echo(f"  {line}")
    if demo:
        from services.simulator.demo import DemoSeed

        DemoSeed(platform, settings, demo_kelurahan).install()
        typer.echo(
            "On first start a demo program (Kota Semarang, synthetic people) is seeded in the background; "
            f"progress at http://{host}:{port}/demo/seeding. --no-demo or P2KP_DEMO_SEED=false skips it."
        )
    uvicorn.run(settled_once_started(platform), host=host, port=port, log_config=None, access_log=False)


async def _demo_credentials(accounts: AccountStore, data_dir: Path) -> list[str]:
    """Create the demo accounts on first start; their passwords are kept in var/ for the next start."""
    saved = data_dir / "demo-credentials.txt"
    await accounts.start()
    try:
        created = await accounts.ensure_demo_accounts()
    finally:
        await accounts.engine.dispose()
    if created:
        lines = [f"{d.username} / {password}   ({d.display_name})" for d, password in created]
        saved.touch(mode=0o600)
        with saved.open("a") as handle:
            handle.writelines(line + "\n" for line in lines)
    return saved.read_text().splitlines() if saved.exists() else []


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="targeting, institutions, ledger, handover or monitoring")],
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    role: Annotated[
        str,
        typer.Option(
            envvar="P2KP_ROLE",
            help="all (default), or one part: api (commands and queries), relay (publishes the outbox) "
            "or consumers (consumers, projections and background workers)",
        ),
    ] = "all",
) -> None:
    """Start one service on its own (distributed mode: PostgreSQL and Kafka from P2KP_* settings)."""
    from services.platform import BUILDERS

    _known_service(service)
    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    os.environ.setdefault("P2KP_MODE", "distributed")
    os.environ["P2KP_ROLE"] = role
    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_json)
    app = settled_once_started(BUILDERS[service]())
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


ROLES = ("all", "api", "relay", "consumers")


def _known_service(service: str) -> None:
    from services.platform import BUILDERS

    if service not in BUILDERS:
        raise typer.BadParameter(f"unknown service {service!r}; choose one of {', '.join(BUILDERS)}")


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="targeting, institutions, ledger, handover or monitoring")],
) -> None:
    """Bring one service's database schema to the latest version, then exit (a deployment's migration
    job or init container). Safe to run twice and from several processes at once."""
    from services.platform import BUILDERS
    from shared.migrations import upgrade

    _known_service(service)
    os.environ.setdefault("P2KP_MODE", "distributed")
    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = BUILDERS[service]().state.runtime

    async def go() -> None:
        try:
            await upgrade(runtime.engine, *runtime.migrations)
        finally:
            await runtime.engine.dispose()

    asyncio.run(go())
    typer.echo(f"{service}: schema up to date.")


topics = typer.Typer(no_args_is_help=True, help="The platform's Kafka topics.")
app.add_typer(topics, name="topics")


@topics.command("create")
def create_topics(
    partitions: Annotated[int, typer.Option(min=1, max=1000, help="Partitions per event topic")] = 6,
    replication_factor: Annotated[
        int, typer.Option(min=1, max=10, help="Replicas per partition: 3 in production")
    ] = 1,
    min_insync_replicas: Annotated[
        int, typer.Option(min=1, max=10, help="Replicas that must have a write before it is acknowledged: 2")
    ] = 1,
) -> None:
    """Create every platform topic that is missing, kept forever (retention.ms=-1), on the brokers of
    P2KP_KAFKA_BOOTSTRAP; report existing topics whose settings differ (exit 1), never change them."""
    from shared.transport.topics import ensure_topics, platform_topics

    if min_insync_replicas > replication_factor:
        raise typer.BadParameter("--min-insync-replicas cannot exceed --replication-factor")
    settings = ServiceSettings()
    specs = platform_topics(partitions, min_insync_replicas)
    report = asyncio.run(ensure_topics(settings.kafka_bootstrap, specs, replication_factor))
    for name in report.created:
        typer.echo(f"created  {name}")
    for name in report.existing:
        typer.echo(f"exists   {name}")
    for topic, key, wanted, found in report.mismatched:
        typer.echo(f"differs  {topic}: {key} is {found}, the platform wants {wanted}", err=True)
    if report.mismatched:
        raise typer.Exit(1)


@app.command()
def token(
    role: Annotated[
        str,
        typer.Option(
            help="national_admin, national_monitor, regional_consultant, "
            "city_operator, facilitator, bkm_officer, auditor, integration_client"
        ),
    ],
    city: Annotated[
        list[str] | None, typer.Option(help="A kota/kabupaten code such as 33.74 (repeatable)")
    ] = None,
    kelurahan: Annotated[list[str] | None, typer.Option(help="A kelurahan code (repeatable)")] = None,
    province: Annotated[
        list[str] | None, typer.Option(help="A provinsi code such as 33 (repeatable)")
    ] = None,
    subject: Annotated[str, typer.Option(help="Who the token names")] = "cli-user",
    minutes: Annotated[int, typer.Option(min=1, max=7 * 24 * 60)] = 480,
) -> None:
    """Print a development access token (signed with the local key; refused in production)."""
    from shared.security.principal import InvalidPrincipal, Principal
    from shared.security.tokens import issue_token

    settings = ServiceSettings()
    if settings.environment == "production":
        raise typer.BadParameter("production tokens come from the identity provider, not from this command")
    scopes = [*(province or []), *(city or []), *(kelurahan or [])]
    try:
        principal = Principal.of(subject, role, scopes)
    except InvalidPrincipal as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(issue_token(settings, principal, minutes))


@app.command()
def docs(folder: Annotated[Path, typer.Option(help="The docs folder")] = Path("docs")) -> None:
    """Regenerate the event catalogue (docs/events.md) and the JSON Schemas from the event registry."""
    from shared.contracts import catalogue, registry

    for path in catalogue.write(folder, registry):
        typer.echo(f"wrote {path}")


projections = typer.Typer(no_args_is_help=True, help="The monitoring read models.")
app.add_typer(projections, name="projections")


@projections.command("rebuild")
def rebuild(
    name: Annotated[str, typer.Argument(help="The projection: monitoring.facts")] = "monitoring.facts",
    url: Annotated[
        str, typer.Option(envvar="P2KP_MONITORING_URL", help="The monitoring service's base URL")
    ] = "http://127.0.0.1:8000/monitoring",
    token: Annotated[
        str | None,
        typer.Option(envvar="P2KP_TOKEN", help="A national_admin token (default: a development one)"),
    ] = None,
) -> None:
    """Rebuild a read model into a new generation while the old one serves, then switch; shows events/s."""
    import time

    import httpx
    from rich.progress import BarColumn, Progress, TextColumn

    from shared.security.principal import Principal
    from shared.security.tokens import issue_token

    if name != "monitoring.facts":
        raise typer.BadParameter("the rebuildable projection is monitoring.facts")
    bearer = token or issue_token(ServiceSettings(), Principal.of("cli-rebuild", "national_admin"), 60)
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {bearer}"}, timeout=30) as http:
        started = http.post(f"/projections/{name}/rebuild")
        if started.status_code != 202:
            raise typer.BadParameter(f"{started.status_code}: {started.text}")
        generation = started.json()["generation"]
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"))
        with Progress(*columns) as bar:
            task = bar.add_task(f"{name} → generation {generation}", total=None, detail="")
            while True:
                [status] = http.get("/projections").json()
                state = status["rebuilding"] or {}
                detail = (
                    f"{state.get('applied', 0):,} events, {state.get('events_per_second', 0):,.0f} events/s"
                )
                bar.update(task, detail=detail)
                if state.get("error"):
                    typer.echo(f"rebuild failed: {state['error']}", err=True)
                    raise typer.Exit(1)
                if state.get("switched") and status["generation"] == generation:
                    bar.update(task, total=1, completed=1)
                    break
                time.sleep(0.5)  # the CLI polls the service; no test waits on this
    typer.echo(f"{name} now reads generation {generation}.")


@app.command()
def simulate(
    cities: Annotated[int, typer.Option(min=1, help="How many cities (Kota Semarang first)")] = 1,
    kelurahan_per_city: Annotated[
        int | None, typer.Option(min=1, help="Kelurahan per city (default: all of them)")
    ] = None,
    years: Annotated[int, typer.Option(min=1, max=10, help="Program years")] = 2,
    seed: Annotated[int, typer.Option(help="The same seed issues the same commands")] = 1,
    density: Annotated[
        int, typer.Option(min=1, max=10, help="Kelurahan size: 1 ~6 KSM each (the demo), 4 ~22 (national)")
    ] = 1,
) -> None:
    """Drive a synthetic program (synthetic people, real region codes) through an embedded platform on
    P2KP_DATA_DIR, command by command through the services' API; prints events/s at the end."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.platform import build_embedded, quiesce
    from services.simulator import simulate as run_simulation
    from shared.security.principal import Principal
    from shared.security.tokens import issue_token

    settings = ServiceSettings()
    configure_logging("WARNING", settings.log_json)
    platform = build_embedded()

    def bearer(role: str, *scopes: str) -> dict[str, str]:
        token = issue_token(settings, Principal.of("simulator", role, list(scopes)), 24 * 60)
        return {"authorization": f"Bearer {token}"}

    async def go() -> None:
        import httpx

        async with platform.router.lifespan_context(platform):
            transport = httpx.ASGITransport(app=platform)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://p2kp", headers=bearer("national_admin"), timeout=120
            ) as http:
                columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                with Progress(*columns) as bar:
                    task = bar.add_task("commands", total=None)
                    report = await run_simulation(
                        http,
                        cities=cities,
                        kelurahan_per_city=kelurahan_per_city,
                        years=years,
                        seed=seed,
                        density=density,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                        wait=lambda: quiesce(platform, timeout=300),
                        city_headers=lambda city: bearer("city_operator", city),
                    )
            await quiesce(platform, timeout=300)
        typer.echo(
            f"{report.command_count:,} commands, {report.events:,} events "
            f"in {report.elapsed_seconds:,.1f} s: {report.events_per_second:,.0f} events/s. "
            f"Data in {settings.data_dir.resolve()}."
        )

    asyncio.run(go())


if __name__ == "__main__":
    app()
