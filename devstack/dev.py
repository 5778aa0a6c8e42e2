"""`sartiq dev`: the embedded services, the migrations, then the API, the worker and (unless
COMPUTE_SERVER_API_URL names one) compute_sim under a supervisor, until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from devstack.database import async_url, migrate_database
from devstack.ports import free_port, is_port_free
from devstack.stack import Stack
from devstack.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent
Echo = Callable[[str], None]


def run(state: Path, *, fresh: bool, port: int | None, echo: Echo) -> None:
    """Run the whole stack in the foreground; DevstackError if the services cannot start."""
    began = time.monotonic()
    # Ctrl-C and SIGTERM both mean "stop everything cleanly". Installed explicitly: a
    # process started in the background by a script inherits SIGINT as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    stack = Stack(state, fresh=fresh, log=lambda line: echo(f"devstack | {line}"))
    env = {**os.environ, **stack.start().as_env()}
    supervisor = Supervisor()
    try:
        env["SARTIQ_STATE_DIR"] = str(state)
        # Explicit: unset, the settings default to production and refuse the dev secrets.
        env.setdefault("ENVIRONMENT", "development")
        echo("migrate  | alembic upgrade head")
        migrate_database(async_url(env["DATABASE_URL"]))

        api_port = port or int(env.get("API_PORT", "8000"))
        if not is_port_free(api_port):
            chosen = free_port()
            echo(f"api      | port {api_port} is taken; using {chosen}")
            api_port = chosen
        env["API_PORT"] = str(api_port)
        api_url = f"http://127.0.0.1:{api_port}"
        if not os.environ.get("COMPUTE_SERVER_API_URL"):
            # The reference Compute Server stands in for the real, external one.
            sim_port = 9000 if is_port_free(9000) else free_port()
            env["COMPUTE_SERVER_API_URL"] = f"http://127.0.0.1:{sim_port}"
            sim = [sys.executable, "-m", "compute_sim", "--port", str(sim_port)]
            supervisor.add("compute", [*sim, "--log-level", "warning"], env=env, cwd=ROOT)
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
        _print_banner(echo, env, api_url, healthy, time.monotonic() - began, stack_json)
        supervisor.run_forever()
    except KeyboardInterrupt:
        echo("\nstopping…")
    finally:
        stopping = time.monotonic()
        supervisor.stop_all()
        stack.stop()
        (state / "stack.json").unlink(missing_ok=True)
        echo(f"stopped in {time.monotonic() - stopping:.1f}s")


_interrupted = False


def _interrupt(signum: int, frame: object) -> None:
    """First signal: stop. Later ones (`uv run` forwards Ctrl-C a second time) are ignored
    so they cannot cut the clean shutdown short."""
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    raise KeyboardInterrupt


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


def _print_banner(
    echo: Echo, env: dict[str, str], api_url: str, healthy: bool, seconds: float, stack_json: Path
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
    echo("=" * width)
    for line in lines:
        echo(line)
    echo("=" * width)
