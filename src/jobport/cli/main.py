"""The `jobport` command: run the server, manage keys, and drive the API (files, jobs, submit)."""

from __future__ import annotations

import enum
import json
import signal
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from jobport.cli.apps import register as register_app_commands
from jobport.cli.callbacks import register as register_callback_commands  # callbacks
from jobport.cli.client import register as register_client_commands
from jobport.cli.limits import register as register_limit_commands
from jobport.cli.retention import register as register_retention_commands
from jobport.config import EngineSettings, Settings

if TYPE_CHECKING:
    from jobport.domain.errors import DomainError
    from jobport.services.context import AppContext

app = typer.Typer(help="jobport: self-hosted batch jobs API for ML pipelines.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (works on the database directly).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
models_app = typer.Typer(help="The model catalogue of language-model pipelines.", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console()


class Role(enum.StrEnum):
    all = "all"
    api = "api"
    scheduler = "scheduler"


class ExecutorKind(enum.StrEnum):
    local = "local"
    ray = "ray"
register_client_commands(app)  # files ..., jobs ..., submit (cli/client.py)
register_app_commands(app)  # apps ..., usage (cli/apps.py)
register_limit_commands(app)  # limits set (cli/limits.py)
register_retention_commands(app)  # retention set (cli/retention.py)
register_callback_commands(app)  # callbacks ... (cli/callbacks.py)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Warm worker processes (default: CPU count).")] = None,
    role: Annotated[Role | None, typer.Option(help="all: API + scheduler + workers (default, JOBPORT_ROLE); api: a "
                                              "stateless API replica; scheduler: the scheduler and callback "
                                              "deliverer (one active, the others stand by). api and scheduler "
                                              "need PostgreSQL.")] = None,
    executor: Annotated[ExecutorKind | None, typer.Option(help="local: worker processes (default, "
                                                          "JOBPORT_EXECUTOR); ray: actors on the Ray cluster at "
                                                          "JOBPORT_RAY_ADDRESS.")] = None,
) -> None:
    """Run jobport: by default API + scheduler + local workers (SQLite under JOBPORT_HOME unless
    JOBPORT_DATABASE_URL is set)."""
    import uvicorn

    from jobport.api.surfaces import SURFACES
    from jobport.server import create_app

    settings = _serve_settings(workers, role, executor)
    base = f"http://{host}:{port}"
    database = settings.resolved_database_url.split('@')[-1]  # never print credentials
    console.print(f"[bold]jobport[/bold] role={settings.role} executor={settings.engine.executor} "
                  f"home={settings.home.resolve()} db={database}")
    if settings.role != "scheduler":
        for surface in SURFACES:
            console.print(f"  {surface.name:<10} {base}{surface.client_base}")
        console.print(f"  {'docs':<10} {base}/docs")
    console.print(f"  {'ready':<10} {base}/readyz")
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal with the previous
    # handler in place: make that handler a clean exit so `serve` ends with status 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # `main` lets short commands die quietly on a closed stdout (`jobport ... | head`); a server must
    # instead get EPIPE as an error from a write to a dead worker's pipe or a client's closed socket.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # uvicorn's own loggers go through jobport's (log.configure); its access log only at debug
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, log_level=settings.log.level,
                access_log=settings.log.level == "debug", timeout_graceful_shutdown=10)


def _serve_settings(workers: int | None, role: Role | None, executor: ExecutorKind | None) -> Settings:
    """Settings from the environment with the command line's choices on top; a bad combination
    stops here with the settings' own message."""
    overrides: dict[str, object] = {}
    engine: dict[str, object] = {}
    if workers:
        engine["workers"] = workers
    if executor is not None:
        engine["executor"] = executor.value
    if engine:
        overrides["engine"] = EngineSettings(**engine)  # type: ignore[arg-type]
    if role is not None:
        overrides["role"] = role.value
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as err:
        console.print(f"[red]jobport cannot start:[/red] {escape(str(err))}")
        raise typer.Exit(2) from err


class KeyScope(enum.StrEnum):
    admin = "admin"
    org = "org"
    app = "app"


def _operator_context() -> AppContext:
    """The key commands work on the database directly, with the operator's rights."""
    from jobport.server import build_context
    from jobport.store.db import migrate

    ctx = build_context(Settings())
    migrate(ctx.db)
    return ctx


def _fail(error: DomainError) -> NoReturn:
    from jobport.domain.errors import join_sentences

    Console(stderr=True).print(f"[red]error:[/red] {escape(join_sentences(error.message, error.suggestion))}")
    raise typer.Exit(1) from None


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Org name (created if new).")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    app_ref: Annotated[str | None, typer.Option("--app", help="Bind the key to this app (name or id) of ORG: "
                                                "the key sees only that app's jobs, files and usage, and the "
                                                "Gravity surface runs that app for it.")] = None,
    scope: Annotated[KeyScope | None, typer.Option(help="admin: operate the server (orgs, every org's keys); "
                                                   "org: everything of ORG; app: only the app of --app. "
                                                   "Default: app with --app, else org.")] = None,
) -> None:
    """Create an API key for ORG and print it (shown once)."""
    from jobport.domain.errors import DomainError
    from jobport.services import auth

    ctx = _operator_context()
    try:
        org_id, key = auth.create_key(ctx, org, name, app_ref, scope.value if scope else None)
    except DomainError as e:
        _fail(e)
    Console(stderr=True).print(f"org {org} ({org_id})", style="dim", highlight=False)
    print(key)


@keys_app.command("list")
def keys_list(
    org: Annotated[str | None, typer.Option(help="Only this org's keys (name or id).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API keys (never their secrets), revoked ones included."""
    from rich.table import Table

    from jobport.domain.errors import DomainError
    from jobport.services import auth

    ctx = _operator_context()
    try:
        found = auth.all_keys(ctx, org, 0, 100_000)
    except DomainError as e:
        _fail(e)
    rows = [{"id": k.id, "prefix": k.prefix, "org_id": k.org_id, "scope": k.scope, "app_id": k.app_id,
             "name": k.name, "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None} for k in found.items]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "prefix", "org", "scope", "app", "name", "created", "revoked")
    for r in rows:
        table.add_row(*(escape(str(r[c] or "-")) for c in ("id", "prefix", "org_id", "scope", "app_id", "name",
                                                           "created_at", "revoked_at")))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from `jobport keys list`.")]
                ) -> None:
    """Revoke an API key: it answers 401 from the next request on."""
    from jobport.domain.errors import DomainError
    from jobport.services import auth

    ctx = _operator_context()
    try:
        row = auth.revoke_key(ctx, None, key_id)
    except DomainError as e:
        _fail(e)
    Console(stderr=True).print(f"revoked {row.id} ({row.prefix}..., org {row.org_id})", highlight=False)


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the models jobs may name in `model_variant` (built in + JOBPORT_MODELS_FILE or <home>/models.toml)."""
    from rich.table import Table

    from jobport.pipelines.lm.catalogue import CatalogueError, load_catalogue

    settings = Settings()
    try:
        entries = load_catalogue(settings.models_path)
    except CatalogueError as err:
        Console(stderr=True).print(f"[red]{err}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps([entry.public() for entry in entries.values()], indent=2))
        return
    table = Table(title=f"models ({settings.models_path})")
    table.add_column("name", no_wrap=True)
    for column in ("kind", "where", "multimodal", "aliases"):
        table.add_column(column)
    for entry in entries.values():
        where = str(entry.gguf_path()) if entry.kind == "gguf" else f"{entry.base_url} ({entry.model})"
        table.add_row(entry.name, entry.kind, where, "yes" if entry.multimodal else "no", ", ".join(entry.aliases))
    console.print(table)


def main() -> None:  # pragma: no cover
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
