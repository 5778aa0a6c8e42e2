"""docker-compose.yml and Dockerfile: valid Compose, and in agreement with the code.

No Docker engine runs the stack where the tests run, so these checks are what keeps the
production shape honest: the file validates against the Compose Specification schema
(vendored, see tests/data/README.md), every image is pinned, every start-up dependency is
explicit, and every command, port, address, variable and search attribute agrees with the
settings and modules it names. Pure: no service is started (the last test also asks a
Compose v2 CLI, `docker compose`, when one is installed, to parse the file; never v1).
"""

from __future__ import annotations

import fnmatch
import graphlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from core.config import Settings
from core.temporal import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"

# Services built from ./Dockerfile; the rest run official images.
APP_SERVICES = ("api", "worker", "compute_sim", "migrate", "s3-setup")
# Services that run once per `up` and must exit 0 before their dependents start.
ONE_SHOTS = ("migrate", "s3-setup", "temporal-schema", "temporal-setup")
# Secrets the app refuses to leave at their development defaults with ENVIRONMENT=production
# (core/config.py); test_production_secrets_are_required derives the list and checks it.
PRODUCTION_SECRETS = (
    "JWT_SECRET",
    "COMPUTE_SERVER_ADMIN_TOKEN",
    "COMPUTE_WEBHOOK_SECRET",
    "FIRST_SUPERUSER_PASSWORD",
    "R2_SECRET_ACCESS_KEY",
)
# What an operator puts in deploy/.env: one value per required variable.
SAMPLE_ENV = {
    "POSTGRES_PASSWORD": "pg-secret-value",
    "TEMPORAL_DB_PASSWORD": "temporal-db-secret",
    "R2_ACCESS_KEY_ID": "sartiq-prod",
    "R2_SECRET_ACCESS_KEY": "s3-secret-value",
    "COMPUTE_SERVER_ADMIN_TOKEN": "compute-token-value",
    "COMPUTE_WEBHOOK_SECRET": "webhook-secret-value",
    "JWT_SECRET": "j" * 48,
    "FIRST_SUPERUSER_PASSWORD": "superuser-password-value",
}
HEALTH_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
PINNED_IMAGE = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._/-]*):(?P<tag>[A-Za-z0-9][A-Za-z0-9._-]*)$")


# ---- loading and interpolation ------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as written (anchors and merge keys resolved, no interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_env() -> dict[str, str]:
    return compose()["x-app-env"]


class MissingVariable(KeyError):
    pass


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
    ${VAR:?error}, ${VAR?error} and $$. A required variable unset (or empty, with `:`)
    raises MissingVariable, as `docker compose` refuses to start."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"]
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return arg if unset else current
        if op in (":?", "?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return current
        return current or ""

    return _VARIABLE.sub(substitute, value)


def variables(value: Any) -> Iterator[tuple[str, str | None]]:
    """Every (variable, operator) referenced in a loaded compose value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from variables(item)
    elif isinstance(value, str):
        for match in _VARIABLE.finditer(value):
            if not match["escaped"]:
                yield match["name"] or match["bare"], match["op"]


def resolved_services(env: Mapping[str, str] = SAMPLE_ENV) -> dict[str, dict[str, Any]]:
    return interpolate(services(), env)


def environment(service: str) -> dict[str, str]:
    """A service's environment, resolved with SAMPLE_ENV (list or mapping form)."""
    env = resolved_services()[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a process whose environment is exactly `env` reads them."""
    with monkeypatch.context() as patch:
        for name in os.environ:
            if name.upper() in Settings.model_fields:
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings(_env_file=None)


# ---- small parsers ----------------------------------------------------------------------


def option(command: list[str], name: str) -> str:
    """The value of `name` in an argv: `--port 8000`, `--port=8000` or `-s3.port=8333`."""
    for index, arg in enumerate(command):
        if arg == name:
            return command[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {command}")


def published_ports(service: str) -> dict[int, int]:
    """container port -> host port of a service's `ports`."""
    ports: dict[int, int] = {}
    for entry in resolved_services()[service].get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) >= 2, f"{service}: publish {entry!r} with an explicit host port"
        ports[int(parts[-1].split("/")[0])] = int(parts[-2])
    return ports


def url_of(service: str, key: str) -> Any:
    return urlsplit(environment(service)[key])


def healthcheck_text(service: str) -> str:
    test = services()[service].get("healthcheck", {}).get("test", [])
    return test if isinstance(test, str) else " ".join(test)


def mounts(service: str) -> dict[str, Path]:
    """Bind mounts of a service: container path -> host path (relative to the repo)."""
    found = {}
    for entry in services()[service].get("volumes", []):
        source, target = str(entry).split(":")[:2]
        if source.startswith("."):
            found[target] = (ROOT / source).resolve()
    return found


def host_path(service: str, container_path: str) -> Path:
    for target, source in mounts(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{service}: {container_path} is not in a bind mount")


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [rest for key, rest in dockerfile() if key == keyword]


def dockerfile_cmd() -> list[str]:
    (cmd,) = dockerfile_args("CMD")
    return json.loads(cmd)


def documented_commands() -> dict[str, str]:
    """The per-process commands of the Dockerfile's header comment."""
    found = {}
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"^#\s+(api|worker|compute_sim|migrate)\s{2,}(.+?)\s*(\(.*\))?$", line)
        if match:
            found[match[1]] = match[2]
    return found


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def schema_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# ---- the Compose specification ------------------------------------------------------------


def test_vendored_schema_is_the_compose_specification() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    assert schema()["title"] == "Compose Specification"
    service = schema()["definitions"]["service"]["properties"]
    depends_on = json.dumps(service["depends_on"])
    assert "service_completed_successfully" in depends_on


def test_compose_file_is_valid_compose() -> None:
    assert schema_errors(compose()) == []
    resolved = {**compose(), "services": resolved_services()}
    assert schema_errors(resolved) == []


def test_schema_validation_catches_mistakes() -> None:
    broken = json.loads(json.dumps(compose()))
    broken["services"]["api"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["worker"]["comand"] = ["python", "worker.py"]
    errors = "\n".join(schema_errors(broken))
    assert "service_ready" in errors or "depends_on" in errors
    assert "comand" in errors


# ---- images -----------------------------------------------------------------------------


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in services().items():
        if name in APP_SERVICES:
            continue
        assert "build" not in service, f"{name}: only the app services are built"
        image = service.get("image", "")
        match = PINNED_IMAGE.match(image)
        assert match, f"{name}: image {image!r} has no literal tag"
        tag = match["tag"]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not pinned"


def test_dockerfile_base_images_are_pinned() -> None:
    images = [args.split()[0] for args in dockerfile_args("FROM")]
    assert images
    for image in images:
        match = PINNED_IMAGE.match(image)
        assert match, f"FROM {image!r} has no literal tag"
        assert match["tag"] != "latest" and re.search(r"\d", match["tag"]), image
    runtime = images[-1]
    assert runtime.startswith("python:3.11."), "the runtime image is Python 3.11 (pyproject)"


def test_temporal_server_and_admin_tools_are_one_release() -> None:
    server_tag = services()["temporal"]["image"].split(":")[1]
    for name in ("temporal-schema", "temporal-setup"):
        repo, tag = services()[name]["image"].split(":")
        assert repo == "temporalio/admin-tools"
        assert tag == server_tag, f"{name}: schema tools and server must be the same release"


# ---- start-up order -----------------------------------------------------------------------


def test_every_dependency_names_a_service_with_a_condition() -> None:
    graph: dict[str, set[str]] = {}
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use the long depends_on form"
        graph[name] = set(depends_on)
        for dependency, spec in depends_on.items():
            assert dependency in services(), f"{name} depends on unknown {dependency!r}"
            condition = (spec or {}).get("condition")
            assert condition in HEALTH_CONDITIONS, f"{name} -> {dependency}: no condition"
            target = services()[dependency]
            if condition == "service_healthy":
                health = target.get("healthcheck", {})
                assert health.get("test") and not health.get("disable"), (
                    f"{name} waits for {dependency} to be healthy, which has no health check"
                )
            if condition == "service_completed_successfully":
                assert dependency in ONE_SHOTS, f"{dependency} never completes"
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle


def test_one_shots_run_once_and_long_running_services_restart() -> None:
    for name, service in services().items():
        expected = "no" if name in ONE_SHOTS else "unless-stopped"
        assert service.get("restart") == expected, f"{name}: restart {service.get('restart')!r}"


def test_app_services_wait_for_what_they_use() -> None:
    for name in ("api", "worker"):
        depends_on = services()[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["temporal-setup"]["condition"] == "service_completed_successfully"
        assert depends_on["s3-setup"]["condition"] == "service_completed_successfully"
    assert services()["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services()["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )


def test_data_services_keep_their_data_in_named_volumes() -> None:
    declared = set(compose().get("volumes", {}))
    expected = {
        "postgres": "/var/lib/postgresql/data",
        "temporal-postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "s3": "/data",
    }
    for name, path in expected.items():
        volumes = {str(v).split(":")[1]: str(v).split(":")[0] for v in services()[name]["volumes"]}
        assert volumes.get(path) in declared, f"{name}: {path} is not on a named volume"


# ---- the app image and its environment --------------------------------------------------


def test_app_services_run_one_image_with_one_environment() -> None:
    images = set()
    for name in APP_SERVICES:
        service = services()[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        images.add(service["image"])
        assert service["environment"] == app_env(), f"{name}: not the x-app-env anchor"
    assert len(images) == 1, f"app services name different images: {images}"


def test_app_services_other_than_the_api_replace_its_health_check() -> None:
    for name in APP_SERVICES:
        if name == "api":
            assert "healthcheck" not in services()[name], "api: the image's health check"
            continue
        health = services()[name].get("healthcheck", {})
        assert health.get("disable") or health.get("test"), (
            f"{name}: would inherit the image's API health check"
        )


def test_app_environment_names_are_settings_fields() -> None:
    unknown = sorted(set(app_env()) - set(Settings.model_fields))
    assert unknown == [], f"not fields of core.config.Settings (typo?): {unknown}"
    assert app_env()["ENVIRONMENT"] == "production"


def test_production_secrets_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    base = environment("api")
    refused = set()
    for name in Settings.model_fields:
        if name == "ENVIRONMENT" or name not in base:
            continue
        try:
            settings_from({k: v for k, v in base.items() if k != name}, monkeypatch)
        except ValidationError as exc:
            if name in str(exc):
                refused.add(name)
    assert refused == set(PRODUCTION_SECRETS), "update PRODUCTION_SECRETS with core/config.py"
    for name in PRODUCTION_SECRETS:
        value = app_env().get(name, "")
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", value), (
            f"{name} must be required as ${{{name}:?...}}, not {value!r}"
        )
        env = {k: v for k, v in SAMPLE_ENV.items() if k != name}
        with pytest.raises(MissingVariable, match=name):
            interpolate(app_env(), env)
        with pytest.raises(MissingVariable, match=name):
            interpolate(app_env(), {**env, name: ""})


def test_app_environment_makes_valid_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(environment("api"), monkeypatch)
    assert settings.ENVIRONMENT == "production"
    assert not settings.is_development
    assert settings.R2_PUBLIC_URL is None, "an empty optional variable means unset"
    assert settings.TEMPORAL_NAMESPACE == "default"


def test_every_variable_is_in_the_env_example() -> None:
    text = ENV_EXAMPLE.read_text()
    active = dict(re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=(.*)$", text))
    mentioned = set(re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=", text))
    required = {name for name, op in variables(compose()) if op in (":?", "?")}
    optional = {name for name, op in variables(compose())} - required
    assert required == set(SAMPLE_ENV), "update SAMPLE_ENV with the required variables"
    assert set(active) == required, "deploy/.env.example: one line per required variable"
    assert all(value == "" for value in active.values()), "no secret values in the example"
    assert optional <= mentioned, f"undocumented: {sorted(optional - mentioned)}"


# ---- commands, ports, addresses -----------------------------------------------------------


def test_api_port_agrees_everywhere() -> None:
    command = services()["api"]["command"]
    port = int(option(command, "--port"))
    assert published_ports("api") == {port: port}
    assert int(environment("api")["API_PORT"]) == port
    assert int(option(dockerfile_cmd(), "--port")) == port
    assert dockerfile_args("EXPOSE") == [str(port)]
    env_lines = " ".join(dockerfile_args("ENV"))
    assert f"API_PORT={port}" in env_lines
    assert Settings.model_fields["API_PORT"].default == port
    assert command == dockerfile_cmd(), "compose runs the image's default command"


async def _get(app: Any, path: str) -> httpx.Response:
    """GET on an ASGI app without running its lifespan (no service is needed)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get(path)


async def test_api_health_check_targets_the_liveness_route() -> None:
    from api.main import create_app

    (check,) = dockerfile_args("HEALTHCHECK")
    match = re.search(r"http://127\.0\.0\.1:\$\{API_PORT\}(/[^'\"\s]*)", check)
    assert match, check
    assert match[1] == "/api/v1/utils/health-check/"
    app = create_app(Settings(_env_file=None, ENVIRONMENT="development"))
    response = await _get(app, match[1])
    assert response.status_code == 200, f"{match[1]} is not the API's liveness route"


def test_compute_server_url_points_at_compute_sim() -> None:
    url = url_of("api", "COMPUTE_SERVER_API_URL")
    assert url.hostname in services(), f"{url.hostname} is not a service"
    assert url.hostname == "compute_sim"
    port = int(option(services()["compute_sim"]["command"], "--port"))
    assert url.port == port
    assert option(services()["compute_sim"]["command"], "--host") == "0.0.0.0"
    assert f"http://127.0.0.1:{port}/health" in healthcheck_text("compute_sim")


async def test_compute_sim_health_route_exists() -> None:
    from compute_sim.app import create_app

    path = re.search(r"http://127\.0\.0\.1:\d+(/\S*?)'", healthcheck_text("compute_sim"))
    assert path, healthcheck_text("compute_sim")
    app = create_app(Settings(_env_file=None, ENVIRONMENT="development"))
    response = await _get(app, path[1])
    assert response.status_code == 200


def test_temporal_address_points_at_the_temporal_service() -> None:
    address = environment("api")["TEMPORAL_ADDRESS"]
    host, port = address.rsplit(":", 1)
    assert host == "temporal" and host in services()
    assert int(port) in published_ports("temporal")
    assert f"127.0.0.1 {port}" in healthcheck_text("temporal")
    assert environment("temporal-setup")["TEMPORAL_ADDRESS"] == address
    assert environment("temporal-ui")["TEMPORAL_ADDRESS"] == address


def test_temporal_setup_registers_exactly_the_search_attributes() -> None:
    pairs = environment("temporal-setup")["SEARCH_ATTRIBUTES"].split()
    names = [pair.split("=", 1)[0] for pair in pairs]
    assert len(names) == len(set(names)), "an attribute is listed twice"
    registered = dict(pair.split("=", 1) for pair in pairs)
    assert registered == SEARCH_ATTRIBUTES
    for name in ("temporal-setup", "temporal-ui"):
        key = "TEMPORAL_NAMESPACE" if name == "temporal-setup" else "TEMPORAL_DEFAULT_NAMESPACE"
        assert services()[name]["environment"][key] == app_env()["TEMPORAL_NAMESPACE"]
    script = host_path("temporal-setup", services()["temporal-setup"]["command"][0])
    text = script.read_text()
    assert "SEARCH_ATTRIBUTES" in text and "search-attribute create" in text
    assert "namespace create" in text


def test_temporal_dynamic_config_enables_fairness() -> None:
    from devstack.temporal import DYNAMIC_CONFIG

    path = environment("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load(host_path("temporal", path).read_text())
    assert config["matching.enableFairness"][0]["value"] is True
    assert DYNAMIC_CONFIG["matching.enableFairness"] == "true", "dev and prod agree"


def test_temporal_database_settings_agree() -> None:
    server = environment("temporal")
    schema_env = environment("temporal-schema")
    database = environment("temporal-postgres")
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] == schema_env["POSTGRES_SEEDS"] == "temporal-postgres"
    assert server["POSTGRES_USER"] == schema_env["POSTGRES_USER"] == database["POSTGRES_USER"]
    assert server["POSTGRES_PWD"] == schema_env["SQL_PASSWORD"] == database["POSTGRES_PASSWORD"]
    assert server["DBNAME"] == schema_env["DBNAME"]
    assert server["VISIBILITY_DBNAME"] == schema_env["VISIBILITY_DBNAME"]
    assert server["DB_PORT"] == schema_env["DB_PORT"] == "5432"
    script = host_path("temporal-schema", services()["temporal-schema"]["command"][0])
    assert "update-schema" in script.read_text()


def test_database_url_matches_the_postgres_service() -> None:
    url = url_of("api", "DATABASE_URL")
    database = environment("postgres")
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == database["POSTGRES_USER"]
    assert url.password == database["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == database["POSTGRES_DB"]
    assert database["POSTGRES_DB"] in healthcheck_text("postgres")


def test_redis_url_matches_the_redis_service() -> None:
    url = url_of("api", "REDIS_URL")
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


def test_s3_settings_match_the_store() -> None:
    command = services()["s3"]["command"]
    port = int(option(command, "-s3.port"))
    url = url_of("api", "R2_ENDPOINT_URL")
    assert (url.hostname, url.port) == ("s3", port)
    assert option(command, "-ip") == "s3"
    store = services()["s3"]["environment"]
    assert store["AWS_ACCESS_KEY_ID"] == app_env()["R2_ACCESS_KEY_ID"]
    assert store["AWS_SECRET_ACCESS_KEY"] == app_env()["R2_SECRET_ACCESS_KEY"]
    public = url_of("api", "R2_PUBLIC_ENDPOINT_URL")
    assert published_ports("s3") == {port: public.port}
    assert f"127.0.0.1:{port}/healthz" in healthcheck_text("s3")


def test_temporal_ui_url_matches_its_published_port() -> None:
    url = url_of("api", "TEMPORAL_UI_URL")
    port = int(environment("temporal-ui")["TEMPORAL_UI_PORT"])
    assert published_ports("temporal-ui") == {port: url.port}


def test_admin_surfaces_are_published_on_loopback_only() -> None:
    for name in ("temporal", "temporal-ui"):
        for entry in services()[name]["ports"]:
            assert str(entry).startswith("127.0.0.1:"), f"{name}: {entry}"


# ---- files the commands name ------------------------------------------------------------


def test_bind_mounts_exist() -> None:
    for name in services():
        for target, source in mounts(name).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) is missing"
            assert source.is_relative_to(ROOT / "deploy"), f"{name}: mount only deploy/ files"


def _check_command(service: str | None, command: list[str]) -> None:
    program, *args = command
    if program == "uvicorn":
        module, _, attribute = args[0].partition(":")
        assert importlib.util.find_spec(module), f"{module} is not importable"
        assert attribute == "app"
    elif program == "python" and args[0] == "-m":
        assert importlib.util.find_spec(f"{args[1]}.__main__"), f"no {args[1]}/__main__.py"
    elif program == "python" and args[0].startswith("/"):
        assert service, f"{args[0]}: an absolute path needs a bind mount"
        assert host_path(service, args[0]).is_file()
    elif program == "python":
        assert (ROOT / args[0]).is_file(), f"{args[0]} does not exist"
    elif program == "sartiq":
        import cli

        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts["sartiq"] == "cli:main"
        names = {
            command.name or command.callback.__name__ for command in cli.app.registered_commands
        }
        assert args[0] in names, f"`sartiq {args[0]}` does not exist"
    else:
        raise AssertionError(f"unexpected program {program!r}")


def test_commands_name_code_that_exists() -> None:
    for name in APP_SERVICES:
        _check_command(name, services()[name]["command"])
    _check_command(None, dockerfile_cmd())
    assert (ROOT / "api" / "main.py").is_file()
    assert (ROOT / "worker.py").is_file()
    assert (ROOT / "compute_sim" / "__main__.py").is_file()


def test_dockerfile_documents_the_commands_compose_runs() -> None:
    documented = documented_commands()
    assert set(documented) == {"api", "worker", "compute_sim", "migrate"}
    for name, command in documented.items():
        _check_command(None, command.split())
        assert command.split() == services()[name]["command"], name


def test_compute_sim_accepts_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    from compute_sim.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--host" in help_text and "--port" in help_text


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
            continue
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_dockerfile_builds_from_the_lock_as_a_non_root_user() -> None:
    runs = " ".join(dockerfile_args("RUN"))
    assert "uv sync --frozen --no-dev" in runs
    assert "--no-editable" not in runs, "alembic.ini is found beside the code only editable"
    (user,) = dockerfile_args("USER")
    assert user.split(":")[0] not in ("root", "0")
    for copy in dockerfile_args("COPY"):
        if copy.startswith("--from"):
            continue
        *sources, _ = copy.split()
        for source in sources:
            assert source == "." or (ROOT / source).exists(), f"COPY {source}: missing"
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for secret in (".env", "deploy/.env", "api/.env", ".git/config", ".venv/bin/python"):
        assert _ignored(secret, patterns), f"{secret} would enter the build context"
    needed = (
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "alembic.ini",
        "cli.py",
        "worker.py",
        "api/main.py",
        "compute_sim/__main__.py",
        "core/config.py",
        "devstack/s3.py",
        "models/migrations/env.py",
    )
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not _ignored(path, patterns), f".dockerignore drops {path}"


# ---- the real CLI, where there is one ---------------------------------------------------


def _compose_version(cli: list[str]) -> str | None:
    """`version --short` of a Compose CLI (`2.29.7`, or `1.29.2` for the Python one); None
    when it is not there or does not answer."""
    if not shutil.which(cli[0]):
        return None
    try:
        probe = subprocess.run(
            [*cli, "version", "--short"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = probe.stdout.strip().lstrip("v")
    return version if probe.returncode == 0 and version else None


def _compose_cli() -> list[str] | None:
    """A Compose v2 CLI (`DOCKER_COMPOSE`, else `docker compose`, else a v2 `docker-compose`
    binary); never v1: Debian's `docker-compose` 1.29 rejects the Compose-spec top-level
    `name` that the file uses, which says nothing about the file."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    if os.environ.get("DOCKER_COMPOSE"):
        candidates.insert(0, os.environ["DOCKER_COMPOSE"].split())
    for cli in candidates:
        version = _compose_version(cli)
        if version and int(version.split(".")[0]) >= 2:
            return cli
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "no Compose v2 CLI (`docker compose`; set DOCKER_COMPOSE to one): Compose v1 "
            "(docker-compose 1.x) predates the Compose Specification and is not run"
        )
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in SAMPLE_ENV.items()))
    base = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    env = {k: v for k, v in os.environ.items() if k not in SAMPLE_ENV}
    accepted = subprocess.run(
        [*base, "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = subprocess.run(
        [*base, "--env-file", str(empty), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert refused.returncode != 0 and "required variable" in refused.stderr
