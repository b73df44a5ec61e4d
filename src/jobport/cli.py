"""The `jobport` command: run the server, manage keys, and drive the API (files, jobs, submit)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer
from rich.console import Console

from jobport.cli_client import register as register_client_commands
from jobport.config import Settings

app = typer.Typer(help="jobport: self-hosted batch jobs API for ML pipelines.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (works on the database directly).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
register_client_commands(app)  # files ..., jobs ..., submit (jobport/cli_client.py)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Warm worker processes (default: CPU count).")] = None,
) -> None:
    """Run API + scheduler + local workers (SQLite under JOBPORT_HOME unless JOBPORT_DATABASE_URL is set)."""
    import uvicorn

    from jobport.api.app import SURFACES, create_app

    overrides = {"workers": workers} if workers else {}
    settings = Settings(**overrides)
    base = f"http://{host}:{port}"
    console.print(f"[bold]jobport[/bold] home={settings.home.resolve()} db={settings.resolved_database_url.split('@')[-1]}")
    for name, prefix in SURFACES.items():
        console.print(f"  {name:<10} {base}{prefix}")
    console.print(f"  {'docs':<10} {base}/docs")
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal with the previous
    # handler in place: make that handler a clean exit so `serve` ends with status 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(create_app(settings), host=host, port=port, log_level=os.environ.get("JOBPORT_LOG_LEVEL", "warning"),
                timeout_graceful_shutdown=10)


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Org name (created if new).")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create an API key for ORG and print it (shown once)."""
    from jobport.services import auth
    from jobport.services.context import AppContext
    from jobport.store.db import migrate

    ctx = AppContext.build(Settings())
    migrate(ctx.db)
    org_id, key = auth.create_key(ctx, org, name)
    Console(stderr=True).print(f"org {org} ({org_id})", style="dim", highlight=False)
    print(key)


def main() -> None:  # pragma: no cover
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
