"""`sartiq bulk-upload`: post a CSV of products to the API and follow the upload with a
progress bar until it ends (the command's options are declared in cli.py)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import typer


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(1)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def run(
    file: Path,
    *,
    org: str,
    api: str,
    email: str | None,
    password: str | None,
    token: str | None,
    poll: float,
) -> None:
    """Upload, follow, print the outcome; typer.Exit(1) unless the upload completed."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    if token is None:
        email = email or typer.prompt("E-mail")
        password = password or typer.prompt("Password", hide_input=True)

    def login(http: httpx.Client) -> None:
        r = http.post("/login/access-token", data={"username": email, "password": password})
        if r.status_code != 200:
            raise _fail(f"login failed: {_detail(r)}")
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
                raise _fail(f"upload refused ({r.status_code}): {_detail(r)}")
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
                        raise _fail(f"cannot read the upload ({r.status_code}): {_detail(r)}")
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
        raise _fail(f"cannot reach the API at {api}: {error}") from error
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
        raise _fail(upload.get("error_message") or f"bulk upload {upload['status']}")
