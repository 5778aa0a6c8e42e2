"""The `sartiq` command: run the whole stack, migrate, and operate it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

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
    """Start everything: embedded Postgres, Redis, S3, Temporal, migrations, API and worker."""
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
        uvicorn = [sys.executable, "-m", "uvicorn", "api.main:app"]
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
        f"  Health        {api_url}/api/v1/utils/system-health-check",
        f"  Temporal UI   {env.get('TEMPORAL_UI_URL') or '(external Temporal)'}",
        f"  S3 endpoint   {env.get('R2_ENDPOINT_URL')}  bucket {env.get('R2_BUCKET_NAME')}",
        f"  Compute       {env.get('COMPUTE_SERVER_API_URL')}",
        f"  Postgres      {env.get('DATABASE_URL')}",
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
def env(state_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Print the running `sartiq dev` stack's addresses as shell `export` lines."""
    path = _state_dir(state_dir) / "stack.json"
    if not path.exists():
        typer.secho(f"no running stack ({path} is missing); start one with `sartiq dev`", err=True)
        raise typer.Exit(1)
    for key, value in sorted(json.loads(path.read_text())["env"].items()):
        typer.echo(f"export {key}={shlex.quote(value)}")


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
