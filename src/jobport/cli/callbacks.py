"""Client commands for callbacks (`jobport callbacks ...`): the org's delivery log, one delivery
with its attempts, replay, and the signing secret receivers verify with."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from jobport.cli.client import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, _when, connect, out, print_json
from jobport.sdk.client import JobportClient

callbacks_app = typer.Typer(help="Callback (webhook) deliveries: list, inspect, replay; the signing secret.",
                            no_args_is_help=True)
STATUS_STYLE = {"delivered": "green", "failed": "red", "pending": "yellow"}


# -- API calls (the /v0.5/callbacks routes, through the SDK's request plumbing) ------------------

def list_callbacks(client: JobportClient, *, job_id: str | None = None, status: str | None = None,
                   offset: int = 0, limit: int = 20) -> dict[str, Any]:
    params = {k: v for k, v in {"job_id": job_id, "status": status, "offset": offset, "limit": limit}.items()
              if v is not None}
    return client._request("GET", "/callbacks", params=params)


def get_callback(client: JobportClient, delivery_id: str) -> dict[str, Any]:
    return client._request("GET", f"/callbacks/{delivery_id}")


def replay_callback(client: JobportClient, delivery_id: str) -> dict[str, Any]:
    return client._request("POST", f"/callbacks/{delivery_id}/replay")


def get_secret(client: JobportClient) -> dict[str, Any]:
    return client._request("GET", "/callbacks/secret")


def rotate_secret(client: JobportClient) -> dict[str, Any]:
    return client._request("POST", "/callbacks/secret/rotate")


# -- commands ----------------------------------------------------------------------------------

def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'default')}]{status}[/]"


def _last_result(d: dict) -> str:
    if d.get("last_status_code") is not None:
        return f"HTTP {d['last_status_code']}"
    return escape((d.get("last_error") or "-")[:60])


@callbacks_app.command("list")
def callbacks_list(
    job: Annotated[str | None, typer.Option("--job", help="Only this job's callbacks.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """List callback deliveries, newest first."""
    with connect(url, api_key) as client:
        page = list_callbacks(client, job_id=job, status=status.lower() if status else None, offset=offset,
                              limit=limit)
    if as_json:
        print_json(page)
        return
    rows = page["callbacks"]
    width = max((len(d["id"]) for d in rows), default=2)
    table = Table(Column("id", no_wrap=True, min_width=width), "job", "event", Column("status", no_wrap=True),
                  "attempts", "last result", Column("next / done", no_wrap=True),
                  caption=f"{offset + 1 if rows else 0}-{offset + len(rows)} of {page['total']}")
    for d in rows:
        when = d["next_attempt_at"] if d["status"] == "pending" else (d["delivered_at"] or d["last_attempt_at"])
        table.add_row(d["id"], d["job_id"] or "-", d["event_type"], _status(d["status"]), str(d["attempts"]),
                      _last_result(d), _when(when))
    out.print(table)


def _print_detail(d: dict) -> None:
    table = Table(show_header=False, box=None)
    rows = [("id", d["id"]), ("job", d["job_id"] or "-"), ("event", d["event_type"]), ("url", escape(d["url"])),
            ("webhook-id", d["webhook_id"]), ("status", _status(d["status"])), ("attempts", str(d["attempts"]))]
    if d["status"] == "pending":
        rows.append(("next attempt", _when(d["next_attempt_at"])))
    if d.get("delivered_at"):
        rows.append(("delivered", _when(d["delivered_at"])))
    if d.get("replay_of"):
        rows.append(("replay of", d["replay_of"]))
    rows.append(("created", _when(d["created_at"])))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", value)
    out.print(table)
    if d.get("attempt_log"):
        log = Table("#", Column("started", no_wrap=True), "ms", "status", "error")
        for a in d["attempt_log"]:
            log.add_row(str(a["attempt"]), _when(a["started_at"]), str(a["duration_ms"]),
                        str(a["status_code"] or "-"), escape(a["error"] or ""))
        out.print(log)


@callbacks_app.command("get")
def callbacks_get(delivery_id: Annotated[str, typer.Argument(metavar="ID")], url: UrlOpt = DEFAULT_URL,
                  api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Show one delivery with its attempt log."""
    with connect(url, api_key) as client:
        found = get_callback(client, delivery_id)
    print_json(found) if as_json else _print_detail(found)


@callbacks_app.command("replay")
def callbacks_replay(delivery_id: Annotated[str, typer.Argument(metavar="ID")], url: UrlOpt = DEFAULT_URL,
                     api_key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Send a delivered or failed callback again (a new delivery with a new webhook-id)."""
    with connect(url, api_key) as client:
        created = replay_callback(client, delivery_id)
    if as_json:
        print_json(created)
        return
    out.print(f"replaying {delivery_id} as [bold]{created['id']}[/bold] ({_status(created['status'])})")


@callbacks_app.command("secret")
def callbacks_secret(
    rotate: Annotated[bool, typer.Option("--rotate", help="Make a new secret (the old one co-signs for a grace "
                                                          "period).")] = False,
    url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None, as_json: JsonOpt = False,
) -> None:
    """Print the org's signing secret (verify callbacks with any Standard Webhooks library)."""
    with connect(url, api_key) as client:
        found = rotate_secret(client) if rotate else get_secret(client)
    print_json(found) if as_json else print(found["secret"])


def register(app: typer.Typer) -> None:
    """Add `callbacks ...` to the `jobport` app."""
    app.add_typer(callbacks_app, name="callbacks")
