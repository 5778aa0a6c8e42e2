"""The `sartiq` command: run the whole stack, migrate, and operate it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import httpx
import typer

if TYPE_CHECKING:
    from temporalio.client import Client

    from core.config import Settings

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent
app = typer.Typer(help="Sartiq backend: development stack and operations.", no_args_is_help=True)


def _state_dir(value: Path | None) -> Path:
    return (value or Path(os.environ.get("SARTIQ_STATE_DIR", ".sartiq"))).resolve()


def _alembic_config(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def migrate_database(database_url: str | None = None) -> None:
    """`alembic upgrade head` on DATABASE_URL (or the given URL)."""
    from alembic import command

    command.upgrade(_alembic_config(database_url), "head")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


@app.command()
def dev(
    state_dir: Annotated[
        Path | None, typer.Option(help="Where embedded services keep data.")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Wipe the state directory first.")] = False,
    port: Annotated[int | None, typer.Option(help="API port (default API_PORT or 8000).")] = None,
) -> None:
    """Start everything: embedded Postgres, Redis, S3, Temporal, SMTP, migrations, API, worker."""
    from devstack import DevstackError, Stack
    from devstack.supervisor import Supervisor

    began = time.monotonic()
    # Ctrl-C and SIGTERM both mean "stop everything cleanly". Installed explicitly: a
    # process started in the background by a script inherits SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    state = _state_dir(state_dir)
    stack = Stack(state, fresh=fresh, log=lambda line: typer.echo(f"devstack | {line}"))
    try:
        env = {**os.environ, **stack.start().as_env()}
    except DevstackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    supervisor = Supervisor()
    try:
        env["SARTIQ_STATE_DIR"] = str(state)
        # Explicit: unset, the settings default to production and refuse the dev secrets.
        env.setdefault("ENVIRONMENT", "development")
        typer.echo("migrate  | alembic upgrade head")
        migrate_database(_async_url(env["DATABASE_URL"]))

        api_port = port or int(env.get("API_PORT", "8000"))
        if not _port_free(api_port):
            chosen = _free_port()
            typer.echo(f"api      | port {api_port} is taken; using {chosen}")
            api_port = chosen
        env["API_PORT"] = str(api_port)
        api_url = f"http://127.0.0.1:{api_port}"
        if not os.environ.get("COMPUTE_SERVER_API_URL"):
            # The reference Compute Server stands in for the real, external one.
            sim_port = 9000 if _port_free(9000) else _free_port()
            env["COMPUTE_SERVER_API_URL"] = f"http://127.0.0.1:{sim_port}"
            supervisor.add(
                "compute",
                [
                    sys.executable,
                    "-m",
                    "compute_sim",
                    "--port",
                    str(sim_port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
            )
        # The client address is the peer unless TRUSTED_PROXIES says otherwise (api/main.py).
        uvicorn = [sys.executable, "-m", "uvicorn", "api.main:app", "--no-proxy-headers"]
        supervisor.add(
            "api", [*uvicorn, "--host", "127.0.0.1", "--port", str(api_port)], env=env, cwd=ROOT
        )
        supervisor.add("worker", [sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT)
        supervisor.start_all()
        healthy = _wait_http(f"{api_url}/api/v1/utils/health-check/", timeout=60)
        stack_json = stack.write_stack_json()
        info = json.loads(stack_json.read_text())
        info["env"].update(
            {
                "API_URL": api_url,
                "API_PORT": str(api_port),
                "COMPUTE_SERVER_API_URL": env["COMPUTE_SERVER_API_URL"],
                # `eval "$(sartiq env)"` then runs `sartiq migrate`, `schedules`... as dev.
                "ENVIRONMENT": env["ENVIRONMENT"],
            }
        )
        stack_json.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _print_banner(env, api_url, healthy, time.monotonic() - began, stack_json)
        supervisor.run_forever()
    except KeyboardInterrupt:
        typer.echo("\nstopping…")
    finally:
        stopping = time.monotonic()
        supervisor.stop_all()
        stack.stop()
        (state / "stack.json").unlink(missing_ok=True)
        typer.echo(f"stopped in {time.monotonic() - stopping:.1f}s")


_interrupted = False


def _interrupt(signum: int, frame: object) -> None:
    """First signal: stop. Later ones (`uv run` forwards Ctrl-C a second time) are ignored
    so they cannot cut the clean shutdown short."""
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    raise KeyboardInterrupt


def _async_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _print_banner(
    env: dict[str, str], api_url: str, healthy: bool, seconds: float, stack_json: Path
) -> None:
    from core.config import DEV_SUPERUSER_PASSWORD

    status = "healthy" if healthy else "NOT healthy yet (see the api log above)"
    lines = [
        f"Sartiq is up ({status}) in {seconds:.1f}s",
        f"  API docs      {api_url}/docs",
        f"  Health        {api_url}/api/v1/utils/health-check/",
        f"  Dependencies  {api_url}/api/v1/utils/system-health-check  (superuser token)",
        f"  Temporal UI   {env.get('TEMPORAL_UI_URL') or '(external Temporal)'}",
        f"  S3 endpoint   {env.get('R2_ENDPOINT_URL')}  bucket {env.get('R2_BUCKET_NAME')}",
        f"  Compute       {env.get('COMPUTE_SERVER_API_URL')}",
        f"  Postgres      {env.get('DATABASE_URL')}",
        f"  Mail (SMTP)   {env.get('SMTP_HOST')}:{env.get('SMTP_PORT')}  (uv run sartiq mail)",
        f"  Login         {env.get('FIRST_SUPERUSER', 'admin@example.com')} / "
        f"{env.get('FIRST_SUPERUSER_PASSWORD', DEV_SUPERUSER_PASSWORD)}",
        f'  Join it       eval "$(uv run sartiq env)"   (addresses in {stack_json})',
        "  Stop          Ctrl-C",
    ]
    width = max(len(line) for line in lines) + 2
    typer.echo("=" * width)
    for line in lines:
        typer.echo(line)
    typer.echo("=" * width)


@app.command()
def demo(
    api: Annotated[
        str | None, typer.Option(help="API base URL (default: the running stack).")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Fill a running stack with a demo: catalog, shooting, generations, export, bulk upload."""
    from devstack.demo import Demo

    path = _state_dir(state_dir) / "stack.json"
    stack_env = json.loads(path.read_text())["env"] if path.exists() else {}
    api_url = api or stack_env.get("API_URL") or "http://127.0.0.1:8000"
    Demo(api_url).run(stack_env.get("TEMPORAL_UI_URL"))


@app.command()
def env(state_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Print the running `sartiq dev` stack's addresses as shell `export` lines."""
    path = _state_dir(state_dir) / "stack.json"
    if not path.exists():
        typer.secho(f"no running stack ({path} is missing); start one with `sartiq dev`", err=True)
        raise typer.Exit(1)
    for key, value in sorted(json.loads(path.read_text())["env"].items()):
        typer.echo(f"export {key}={shlex.quote(value)}")


@app.command()
def mail(
    state_dir: Annotated[Path | None, typer.Option()] = None,
    full: Annotated[bool, typer.Option(help="Print each message's body too.")] = False,
) -> None:
    """List the mails the running `sartiq dev` stack's SMTP server received."""
    from devstack.mailbox import show

    raise typer.Exit(show(_state_dir(state_dir), full=full, echo=typer.echo))


@app.command()
def migrate() -> None:
    """Apply every migration to DATABASE_URL (`alembic upgrade head`)."""
    migrate_database()
    typer.echo("database is at head")


@app.command()
def makemigration(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration from the models against DATABASE_URL."""
    from alembic import command

    command.revision(_alembic_config(), message=message, autogenerate=True)


@app.command()
def worker() -> None:
    """Run the Temporal worker (same as `python worker.py`)."""
    import worker as worker_module

    worker_module.main()


schedules_app = typer.Typer(
    help="Temporal Schedules of the periodic jobs (ids carry TASK_QUEUE_PREFIX).",
    no_args_is_help=True,
)
app.add_typer(schedules_app, name="schedules")


def _with_temporal(work: Callable[[Client, Settings], Awaitable[T]]) -> T:
    """Run `work(client, settings)` on a fresh Temporal client (imports stay lazy: the
    other commands start without Temporal's SDK)."""
    import asyncio

    from core.config import get_settings
    from core.temporal import connect

    async def main() -> T:
        settings = get_settings()
        return await work(await connect(settings), settings)

    return asyncio.run(main())


@schedules_app.command("sync")
def schedules_sync() -> None:
    """Create every schedule, or update it where it differs (the worker does it at start)."""
    from workflows.schedules import sync_schedules

    for schedule_id, outcome in _with_temporal(sync_schedules).items():
        typer.echo(f"{schedule_id:<40} {outcome}")


@schedules_app.command("list")
def schedules_list() -> None:
    """Each schedule: name, spec, next run, paused."""
    from workflows.schedules import overview

    typer.echo(f"{'NAME':<24} {'NEXT RUN':<27} {'PAUSED':<7} SPEC")
    for row in _with_temporal(overview):
        paused = "missing" if row.paused is None else ("yes" if row.paused else "no")
        typer.echo(f"{row.name:<24} {row.next_run:<27} {paused:<7} {row.spec}")


@schedules_app.command("trigger")
def schedules_trigger(name: Annotated[str, typer.Argument(help="e.g. orphan-scan")]) -> None:
    """Run a schedule's job now."""
    from workflows.schedules import trigger

    try:
        schedule_id = _with_temporal(lambda client, settings: trigger(client, settings, name))
    except KeyError as exc:
        typer.secho(str(exc.args[0]), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"triggered {schedule_id}")


@app.command("bulk-upload")
def bulk_upload(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV (UTF-8).")
    ],
    org: Annotated[str, typer.Option("--org", help="Organization id the products belong to.")],
    api: Annotated[
        str | None,
        typer.Option(help="API URL (default: the running `sartiq dev`, else 127.0.0.1:8000)."),
    ] = None,
    email: Annotated[str | None, typer.Option(envvar="SARTIQ_EMAIL")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="SARTIQ_PASSWORD", help="Prompted for when missing.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="SARTIQ_TOKEN", help="An access token (no login).")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between progress checks.")] = 1.0,
    state_dir: Annotated[Path | None, typer.Option(help="Where `sartiq dev` keeps state.")] = None,
) -> None:
    """Upload a CSV of products and follow it with a progress bar until it ends.

    Exits 0 when the upload completed (rows that failed are listed, with the error
    report's link), 1 when it was refused, failed or was cancelled.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)

    def fail(message: str) -> typer.Exit:
        typer.secho(message, fg="red", err=True)
        return typer.Exit(1)

    def detail(response: httpx.Response) -> str:
        try:
            return str(response.json().get("detail", response.text))
        except ValueError:
            return response.text[:200]

    if api is None:
        api = "http://127.0.0.1:8000"
        stack_json = _state_dir(state_dir) / "stack.json"
        if stack_json.exists():
            api = json.loads(stack_json.read_text()).get("env", {}).get("API_URL") or api
    if token is None:
        email = email or typer.prompt("E-mail")
        password = password or typer.prompt("Password", hide_input=True)

    def login(http: httpx.Client) -> None:
        r = http.post("/login/access-token", data={"username": email, "password": password})
        if r.status_code != 200:
            raise fail(f"login failed: {detail(r)}")
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    params = {"organization_id": org}
    try:
        with httpx.Client(base_url=api.rstrip("/") + "/api/v1", timeout=60) as http:
            if token is None:
                login(http)
            else:
                http.headers["Authorization"] = f"Bearer {token}"
            with file.open("rb") as content:
                r = http.post(
                    "/bulk-uploads/",
                    params=params,
                    files={"file": (file.name, content, "text/csv")},
                    timeout=600,
                )
            if r.status_code != 202:
                raise fail(f"upload refused ({r.status_code}): {detail(r)}")
            upload = r.json()
            console.print(f"bulk upload {upload['id']} started ({upload['workflow_id']})")
            columns = (
                TextColumn("{task.description:<9}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console) as progress:
                bar = progress.add_task("pending", total=None, counts="")
                while True:
                    r = http.get(f"/bulk-uploads/{upload['id']}", params=params)
                    if r.status_code == 401 and token is None:  # the access token expired
                        login(http)
                        continue
                    if r.status_code != 200:
                        raise fail(f"cannot read the upload ({r.status_code}): {detail(r)}")
                    upload = r.json()
                    progress.update(
                        bar,
                        description=upload["status"],
                        total=upload["total_rows"] or None,
                        completed=upload["processed_rows"],
                        counts=f"created {upload['created_count']}  updated "
                        f"{upload['updated_count']}  failed {upload['failed_count']}",
                    )
                    if upload["completed_at"]:
                        break
                    time.sleep(poll)
            errors = []
            if upload["failed_count"]:
                r = http.get(f"/bulk-uploads/{upload['id']}/errors", params={**params, "limit": 5})
                errors = r.json()["data"] if r.status_code == 200 else []
    except httpx.HTTPError as error:
        raise fail(f"cannot reach the API at {api}: {error}") from error
    except KeyboardInterrupt:
        typer.echo("stopped following; the upload goes on in the background", err=True)
        raise typer.Exit(130) from None
    typer.echo(
        f"{upload['status']}: {upload['total_rows']} rows, {upload['created_count']} created, "
        f"{upload['updated_count']} updated, {upload['failed_count']} failed"
    )
    for error in errors:
        typer.echo(f"  row {error['row_number']} ({error['sku']}): {error['message']}")
    if upload["failed_count"] > len(errors):
        typer.echo(f"  … and {upload['failed_count'] - len(errors)} more")
    if upload.get("error_report_url"):
        typer.echo(f"error report: {upload['error_report_url']}")
    if upload["status"] != "completed":
        raise fail(upload.get("error_message") or f"bulk upload {upload['status']}")


@app.command()
def bench(
    only: Annotated[
        str | None, typer.Option(help="Comma-separated subset of P1,P2,P3,P4,P5,P6 (default all).")
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="Tiny sizes: checks the bench runs; the figures mean nothing.")
    ] = False,
    json_path: Annotated[
        Path, typer.Option("--json", help="Where to write the figures as JSON.")
    ] = ROOT / "docs" / "benchmarks.json",
    markdown_path: Annotated[
        Path | None,
        typer.Option("--markdown", help="Where to write the Markdown report (default docs/)."),
    ] = None,
) -> None:
    """Measure the system against same-run baselines (bare workflow, asyncpg, COPY,
    list_objects_v2) on its own embedded stack; print a table, write JSON + Markdown."""
    from bench.runner import ALL, Scale, run

    selected = [p.strip().upper() for p in only.split(",")] if only else list(ALL)
    unknown = sorted(set(selected) - set(ALL))
    if unknown:
        typer.secho(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(ALL)}", err=True)
        raise typer.Exit(2)
    if markdown_path is None and not quick:
        markdown_path = ROOT / "docs" / "benchmarks.md"
    run(selected, Scale.quick() if quick else Scale(), json_path, markdown_path)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
