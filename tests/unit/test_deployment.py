"""The deployment files hold together: docker-compose.yml against the Compose Specification schema and
its own cross-references, the Dockerfile's stages and user, and deploy/k8s against the Kubernetes API
schemas and the platform's probes, settings and topics.

No container engine or cluster runs here, so these are the checks that can fail before one does. The
Compose schema is vendored in tests/data (its README names the source and version); the Kubernetes
schemas are the ones the kubernetes-validate package bundles.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.transport.topics import SERVICES, event_topic, platform_topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes the manifests are meant for.
KUBERNETES_VERSION = "1.30"
ROLES = ("api", "relay", "consumers")
ONE_SHOT = "no"

Document = dict[str, Any]


def _command(container: Document) -> list[str]:
    command = container.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def _service_of(command: list[str]) -> str | None:
    """The service a `p2kp serve <service>` or `p2kp migrate <service>` command is for."""
    return command[2] if command[:2] in (["p2kp", "serve"], ["p2kp", "migrate"]) else None


def _assert_topics_kept_forever(command: list[str]) -> None:
    """A topic job runs `p2kp topics create`, which gives every topic retention.ms=-1."""
    assert command[:3] == ["p2kp", "topics", "create"], command
    partitions = int(_option(command, "--partitions") or 0)
    replicas = int(_option(command, "--replication-factor") or 0)
    min_insync = int(_option(command, "--min-insync-replicas") or 0)
    assert 1 <= min_insync <= replicas and partitions >= 1, command
    topics = {spec.name: spec.config for spec in platform_topics(partitions, min_insync)}
    for name in map(event_topic, SERVICES):
        assert topics[name]["retention.ms"] == "-1", name
        assert topics[name]["cleanup.policy"] == "delete", name


# docker-compose.yml ----------------------------------------------------------------------------------


def _default(match: re.Match[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    if match.group(2) is None:
        raise AssertionError(f"{match.group(0)} has no default, so `make up` would need it set")
    return match.group(3)


def _interpolate(value: Any) -> Any:
    """The file as Compose reads it with nothing set in the environment: each ${VAR:-default} its default."""
    if isinstance(value, str):
        return re.sub(r"\$\$|\$\{(\w+)(:?-)([^}]*)\}|\$\{?\w+\}?", _default, value)
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    return value


@pytest.fixture(scope="module")
def compose() -> Document:
    document: Document = _interpolate(yaml.safe_load(COMPOSE.read_text()))
    return document


def _environment(container: Document) -> dict[str, str]:
    env = container.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _depends_on(container: Document) -> dict[str, str]:
    """Each service this one waits for, and on what."""
    deps = container.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: how.get("condition", "service_started") for name, how in deps.items()}


def _names(references: Any) -> list[str]:
    """What a service's networks, configs or secrets name: a list of names or of {source}, or a map."""
    if isinstance(references, dict):
        return list(references)
    return [ref if isinstance(ref, str) else ref["source"] for ref in references or []]


def _containers_running(compose: Document, *command: str) -> list[str]:
    return [name for name, c in compose["services"].items() if _command(c)[: len(command)] == list(command)]


def test_compose_file_follows_the_compose_specification(compose: Document) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_every_compose_reference_names_something_declared(compose: Document) -> None:
    services = compose["services"]
    problems = []
    for name, container in services.items():
        for target, condition in _depends_on(container).items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
            elif condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} waits for {target} to be healthy, which has no healthcheck")
            elif (
                condition == "service_completed_successfully" and services[target].get("restart") != ONE_SHOT
            ):
                problems.append(f"{name} waits for {target} to complete, which is restarted")
        for volume in container.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/")):
                if not (ROOT / source).exists():
                    problems.append(f"{name} mounts {source}, which does not exist")
            elif source not in (compose.get("volumes") or {}):
                problems.append(f"{name} uses volume {source}, which is not declared")
        for kind in ("networks", "configs", "secrets"):
            for ref in _names(container.get(kind)):
                if ref not in (compose.get(kind) or {}) and not (kind == "networks" and ref == "default"):
                    problems.append(f"{name} uses {kind[:-1]} {ref}, which is not declared")
    for kind in ("configs", "secrets"):
        for name, spec in (compose.get(kind) or {}).items():
            if "file" in spec and not (ROOT / spec["file"]).is_file():
                problems.append(f"{kind[:-1]} {name} reads {spec['file']}, which does not exist")
    assert not problems, "\n".join(problems)


def test_each_service_runs_as_api_relay_and_consumers_containers(compose: Document) -> None:
    found = {}
    for name, container in compose["services"].items():
        command = _command(container)
        if command[:2] == ["p2kp", "serve"]:
            found[(command[2], _option(command, "--role"))] = name
    expected = {(s, role): s if role == "api" else f"{s}-{role}" for s in SERVICES for role in ROLES}
    expected[("monitoring", "consumers")] = "monitoring-projections"
    assert found == expected


def test_every_process_starts_after_its_migration_and_relays_and_consumers_after_the_topics(
    compose: Document,
) -> None:
    services = compose["services"]
    (topics,) = _containers_running(compose, "p2kp", "topics", "create")
    for service in SERVICES:
        (migrate,) = _containers_running(compose, "p2kp", "migrate", service)
        assert _depends_on(services[migrate]).get("postgres") == "service_healthy", migrate
        for name in _containers_running(compose, "p2kp", "serve", service):
            deps = _depends_on(services[name])
            assert deps.get(migrate) == "service_completed_successfully", name
            if _option(_command(services[name]), "--role") != "api":
                assert deps.get(topics) == "service_completed_successfully", name


def test_every_long_running_container_has_a_healthcheck_and_platform_ones_check_ready(
    compose: Document,
) -> None:
    for name, container in compose["services"].items():
        if container.get("restart") == ONE_SHOT:
            continue
        check = container.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable") and check["test"][0] != "NONE", name
        if _command(container)[:2] == ["p2kp", "serve"]:
            assert check["test"][-1] == "/ready", name


def test_each_database_url_names_the_database_and_role_the_init_script_creates(compose: Document) -> None:
    services = compose["services"]
    postgres = services["postgres"]
    (init,) = [
        c["source"] for c in postgres["configs"] if c["target"].startswith("/docker-entrypoint-initdb.d/")
    ]
    script = (ROOT / compose["configs"][init]["file"]).read_text()
    calls = re.findall(r'^create_service_database (\S+) (\S+) "\$(\w+)"$', script, re.MULTILINE)
    password_of = {(database, role): _environment(postgres)[variable] for database, role, variable in calls}
    databases = set()
    for name, container in services.items():
        service = _service_of(_command(container))
        urls = {k: v for k, v in _environment(container).items() if re.fullmatch(r"P2KP_\w+_DATABASE_URL", k)}
        if service is None:
            assert not urls, f"{name} is not a service but has {sorted(urls)}"
            continue
        # Only its own database: a service never reads another's.
        assert list(urls) == [f"P2KP_{service.upper()}_DATABASE_URL"], name
        url = urlsplit(next(iter(urls.values())))
        database = url.path.lstrip("/")
        assert url.scheme == "postgresql+asyncpg" and url.hostname == "postgres", name
        assert (database, url.username) in password_of, f"{name}: the init script creates no {url.username}"
        assert url.password == password_of[(database, url.username)], f"{name}: wrong password"
        databases.add((service, database))
    assert len({database for _, database in databases}) == len(databases) == len(SERVICES)


def test_compose_topic_job_creates_every_topic_kept_forever(compose: Document) -> None:
    (topics,) = _containers_running(compose, "p2kp", "topics", "create")
    _assert_topics_kept_forever(_command(compose["services"][topics]))
    # Topics the broker creates itself (the handover's per-city topics) are kept forever too.
    assert _environment(compose["services"]["kafka"])["KAFKA_LOG_RETENTION_MS"] == "-1"


# Dockerfile ------------------------------------------------------------------------------------------


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (keyword, arguments), per stage; heredoc bodies skipped."""
    stages: list[list[tuple[str, str]]] = []
    lines = iter(DOCKERFILE.read_text().splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + next(lines)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if heredoc := re.search(r"<<-?'?(\w+)'?", arguments):
            for body in lines:
                if body.strip() == heredoc.group(1):
                    break
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), arguments))
    return stages


def _image_uid() -> int:
    (user,) = [args for keyword, args in _dockerfile_stages()[-1] if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: numeric, so Kubernetes' runAsNonRoot can check it"
    return int(uid)


def test_image_is_built_in_stages_and_runs_as_an_unprivileged_user_with_a_healthcheck(
    compose: Document,
) -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "the build tools stay in a build stage"
    final = stages[-1]
    assert any(k == "COPY" and "--from=" in args for k, args in final)
    assert _image_uid() != 0
    assert any(k == "HEALTHCHECK" for k, _ in final)
    # The program compose's healthchecks call is in the image.
    checks = [
        c["healthcheck"]["test"] for c in compose["services"].values() if "build" in c and "healthcheck" in c
    ]
    programs = {test[1] for test in checks}
    installed = {args.split()[-1].rsplit("/", 1)[-1] for k, args in final if k == "COPY"}
    assert programs <= installed | {"python"}, programs - installed


# deploy/k8s ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[tuple[str, Document]]:
    """(file, document) for every Kubernetes object in deploy/k8s, the example Secrets included."""
    return [
        (path.name, document)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def _objects(manifests: list[tuple[str, Document]], kind: str) -> dict[str, Document]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}


def _workloads(manifests: list[tuple[str, Document]]) -> dict[str, Document]:
    """Pod specs of the Deployments and Jobs, by object name."""
    kinds = ("Deployment", "Job")
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for _, doc in manifests
        if doc["kind"] in kinds
    }


def _all_containers(pod: Document) -> list[Document]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_kustomization_applies_every_manifest_but_the_example_secrets() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_every_manifest_follows_the_kubernetes_api_schemas(manifests: list[tuple[str, Document]]) -> None:
    problems = []
    for path, document in manifests:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            problems.append(
                f"{path} {document['kind']}/{document['metadata']['name']}: {where}: {error.message}"
            )
    assert not problems, "\n".join(problems)


def test_every_deployment_probes_ready_and_health_requests_resources_and_runs_unprivileged(
    manifests: list[tuple[str, Document]],
) -> None:
    uid = _image_uid()
    for name, deployment in _objects(manifests, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
        for container in _all_containers(pod):
            where = f"{name}/{container['name']}"
            requests = container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests) and "memory" in container["resources"]["limits"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            ports = {p.get("name") for p in container["ports"]} | {
                p["containerPort"] for p in container["ports"]
            }
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready", where
            assert container["livenessProbe"]["httpGet"]["path"] == "/health", where
            for probe in {"startupProbe", "livenessProbe", "readinessProbe"} & set(container):
                assert container[probe]["httpGet"]["port"] in ports, where


def test_each_service_has_api_relay_and_consumers_deployments_that_migrate_first(
    manifests: list[tuple[str, Document]],
) -> None:
    found = {}
    for name, deployment in _objects(manifests, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = _command(container)
        service = _service_of(command)
        assert command[:2] == ["p2kp", "serve"] and service, name
        found[(service, _option(command, "--role"))] = name
        assert [_command(c) for c in pod.get("initContainers", [])] == [["p2kp", "migrate", service]], name
    assert set(found) == {(s, role) for s in SERVICES for role in ROLES}


def test_each_api_deployment_has_a_service_selecting_only_its_pods(
    manifests: list[tuple[str, Document]],
) -> None:
    deployments = _objects(manifests, "Deployment")
    for name, service in _objects(manifests, "Service").items():
        selector = service["spec"]["selector"].items()
        selected = [
            d for d in deployments.values() if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, name
        (container,) = selected[0]["spec"]["template"]["spec"]["containers"]
        assert _command(container)[2] == name.removeprefix("p2kp-"), name
        assert _option(_command(container), "--role") == "api", name
        port_names = {p.get("name") for p in container["ports"]}
        assert all(p["targetPort"] in port_names for p in service["spec"]["ports"]), name
    roles = [
        _option(_command(d["spec"]["template"]["spec"]["containers"][0]), "--role")
        for d in deployments.values()
    ]
    assert len(_objects(manifests, "Service")) == roles.count("api") == len(SERVICES)


def _settings_sources(manifests: list[tuple[str, Document]]) -> dict[tuple[str, str], set[str]]:
    """The keys of every ConfigMap and Secret, by (kind, name)."""
    return {
        (doc["kind"], doc["metadata"]["name"]): set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        for _, doc in manifests
        if doc["kind"] in ("ConfigMap", "Secret")
    }


def _environment_of(container: Document, sources: dict[tuple[str, str], set[str]]) -> set[str]:
    """The variables a container gets; fails on a ConfigMap, Secret or key that no manifest declares."""
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if ref in source:
                assert (kind, source[ref]["name"]) in sources, f"{container['name']}: no {kind} {source[ref]}"
                names |= sources[(kind, source[ref]["name"])]
    for variable in container.get("env", []):
        for ref, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            if ref in variable.get("valueFrom", {}):
                key = variable["valueFrom"][ref]
                assert key["key"] in sources.get((kind, key["name"]), set()), f"{container['name']}: {key}"
    return names


def test_every_referenced_configmap_and_secret_exists_and_each_process_gets_its_own_database(
    manifests: list[tuple[str, Document]],
) -> None:
    sources = _settings_sources(manifests)
    for name, pod in _workloads(manifests).items():
        for volume in pod.get("volumes", []):
            for ref, kind, field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
                if ref in volume:
                    assert (kind, volume[ref][field]) in sources, f"{name}: {volume}"
        for container in _all_containers(pod):
            environment = _environment_of(container, sources)
            assert {"P2KP_MODE", "P2KP_KAFKA_BOOTSTRAP"} <= environment, name
            service = _service_of(_command(container))
            if service is None:
                continue
            databases = {v for v in environment if re.fullmatch(r"P2KP_\w+_DATABASE_URL", v)}
            assert databases == {f"P2KP_{service.upper()}_DATABASE_URL"}, f"{name}/{container['name']}"
            assert "P2KP_AUTH_SIGNING_KEY" in environment, name
            if service == "targeting":
                assert "P2KP_TARGETING_NIK_PEPPER" in environment, name
    (config,) = [doc for _, doc in manifests if doc["kind"] == "ConfigMap"]
    assert config["data"]["P2KP_MODE"] == "distributed"


def test_kubernetes_topic_job_creates_every_topic_replicated_for_production(
    manifests: list[tuple[str, Document]],
) -> None:
    (job,) = _objects(manifests, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = _command(container)
    _assert_topics_kept_forever(command)
    assert (
        _option(command, "--replication-factor") == "3" and _option(command, "--min-insync-replicas") == "2"
    )
