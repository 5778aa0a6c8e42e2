"""The `sartiq` command: run the whole stack, migrate, and operate it."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from temporalio.client import Client

    from core.config import Settings

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent
app = typer.Typer(help="Sartiq backend: development stack and operations.", no_args_is_help=True)


def _state_dir(value: Path | None) -> Path:
    return (value or Path(os.environ.get("SARTIQ_STATE_DIR", ".sartiq"))).resolve()


@app.command()
def dev(
    state_dir: Annotated[
        Path | None, typer.Option(help="Where embedded services keep data.")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Wipe the state directory first.")] = False,
    port: Annotated[int | None, typer.Option(help="API port (default API_PORT or 8000).")] = None,
) -> None:
    """Start everything: embedded Postgres, Redis, S3, Temporal, SMTP, migrations, API, worker."""
    from devstack import DevstackError
    from devstack.dev import run

    try:
        run(_state_dir(state_dir), fresh=fresh, port=port, echo=typer.echo)
    except DevstackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc


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
    from devstack.database import migrate_database

    migrate_database()
    typer.echo("database is at head")


@app.command()
def makemigration(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a migration from the models against DATABASE_URL."""
    from alembic import command

    from devstack.database import alembic_config

    command.revision(alembic_config(), message=message, autogenerate=True)


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


@app.command()
def runs(
    org: Annotated[str | None, typer.Option("--org", help="Organization id.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="SartiqStatus, e.g. failed.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--type", help="EntityType, e.g. generation.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    state_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """List runs (newest first) with their summaries and Temporal UI links."""
    from core.run_listing import BadFilter, query, table
    from core.run_listing import runs as list_runs

    try:
        query(organization_id=org, status=status, kind=kind)
    except BadFilter as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    _use_stack_env(state_dir)
    rows = _with_temporal(
        lambda client, settings: list_runs(
            client, settings, organization_id=org, status=status, kind=kind, limit=limit
        )
    )
    for line in table(rows):
        typer.echo(line)


def _use_stack_env(state_dir: Path | None) -> None:
    """Point the settings at the running `sartiq dev` stack, unless the environment does."""
    path = _state_dir(state_dir) / "stack.json"
    if path.exists():
        for key, value in json.loads(path.read_text()).get("env", {}).items():
            os.environ.setdefault(key, value)


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
    import cli_bulk_upload

    if api is None:
        api = "http://127.0.0.1:8000"
        stack_json = _state_dir(state_dir) / "stack.json"
        if stack_json.exists():
            api = json.loads(stack_json.read_text()).get("env", {}).get("API_URL") or api
    cli_bulk_upload.run(
        file, org=org, api=api, email=email, password=password, token=token, poll=poll
    )


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
    list_objects_v2) on its own embedded stack; print a table, write JSON + Markdown.

    Each figure is written as soon as it is measured, with the machine's load meanwhile
    (flagged above the core count). Ctrl-C or SIGTERM stops every process of the run and
    leaves the report of what was measured (exit 143 on SIGTERM)."""
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
