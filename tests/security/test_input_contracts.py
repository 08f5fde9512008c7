"""Hostile input: every request body and parameter of every service is bounded by its schema, read from
the OpenAPI documents themselves so a new endpoint cannot slip through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.platform import build_embedded
from shared.settings import ServiceSettings
from tests.harness.tokens import ADMIN


@pytest.fixture
def platform(tmp_path: Path) -> FastAPI:
    return build_embedded(ServiceSettings(data_dir=tmp_path))


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def unbounded(
    schema: dict[str, Any], document: dict[str, Any], where: str, *, form: bool = False
) -> Iterator[str]:
    """Every place in a request schema that accepts unbounded or unexpected input. File parts of a
    multipart form are bounded by the upload limit in code; extra form parts are never read."""
    schema = resolve(schema, document)
    for option in schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", []):
        yield from unbounded(option, document, where)
    kind = schema.get("type")
    if kind == "object":
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, dict) and "enum" in resolve(schema.get("propertyNames", {}), document):
            yield from unbounded(extra, document, f"{where}[*]")  # a map over a closed set of keys
        elif extra is not False and not form:
            yield f"{where}: unknown fields are not rejected"
        for name, sub in schema.get("properties", {}).items():
            yield from unbounded(sub, document, f"{where}.{name}", form=form)
    elif kind == "string" and form and resolve(schema, document).get("contentMediaType"):
        return
    elif kind == "string" and not ({"maxLength", "pattern", "enum", "format", "const"} & schema.keys()):
        yield f"{where}: a string without a length limit or format"
    elif kind == "array" and "maxItems" not in schema:
        yield f"{where}: a list without a length limit"
    elif kind == "array":
        yield from unbounded(schema.get("items", {}), document, f"{where}[]")


def test_every_request_body_and_parameter_is_bounded(platform: FastAPI) -> None:
    problems: list[str] = []
    for name, service in platform.state.services.items():
        document = service.openapi()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                where = f"{name} {method.upper()} {path}"
                for parameter in operation.get("parameters", []):
                    problems += unbounded(parameter["schema"], document, f"{where} ?{parameter['name']}")
                for media, content in operation.get("requestBody", {}).get("content", {}).items():
                    form = media == "multipart/form-data"
                    problems += unbounded(content["schema"], document, f"{where} body", form=form)
    assert not problems, "\n".join(problems)


async def test_unknown_fields_and_oversized_bodies_are_refused_with_a_clear_message(
    platform: FastAPI,
) -> None:
    async with (
        platform.router.lifespan_context(platform),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=platform), base_url="http://p2kp", headers=ADMIN
        ) as http,
    ):
        period = {
            "code": "KOTAKU",
            "name": "Kota Tanpa Kumuh",
            "starts_on": "2016-01-01",
            "ends_on": "2024-12-31",
        }
        smuggled = await http.post("/targeting/program-periods", json={**period, "is_admin": True})
        assert smuggled.status_code == 422
        assert smuggled.json()["errors"] == [
            {"field": "is_admin", "message": "Extra inputs are not permitted"}
        ]
        huge = await http.post("/targeting/program-periods", json={**period, "name": "x" * 2_000_000})
        assert huge.status_code == 413 and "at most 1,048,576 bytes" in huge.json()["detail"]
        bad_code = await http.get("/targeting/program-periods/DROP TABLE events")
        assert bad_code.status_code == 422 and "code" in bad_code.json()["detail"]
        not_json = await http.post(
            "/targeting/program-periods", content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422 and not_json.headers["content-type"] == "application/problem+json"
        assert (await http.get("/targeting/program-periods")).status_code == 405
