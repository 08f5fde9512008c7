"""docs/events.md and docs/schemas/events/ are generated from the event registry; they must be current."""

from __future__ import annotations

from pathlib import Path

from shared.contracts import catalogue, registry

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_event_catalogue_in_the_docs_is_current() -> None:
    document = (DOCS / "events.md").read_text()
    assert catalogue.render_into(document, registry) == document, "run `p2kp docs` and commit the result"
    for name in registry.names():
        assert f"#### `{name}`" in document


def test_every_event_has_a_current_json_schema() -> None:
    folder = DOCS / "schemas" / "events"
    wanted = catalogue.json_schemas(registry)
    assert {p.name for p in folder.glob("*.json")} == set(wanted), "run `p2kp docs` and commit the result"
    for name, content in wanted.items():
        assert (folder / name).read_text() == content, f"{name} is stale: run `p2kp docs`"
