"""Operator commands for per-org limits (`jobport limits set`): override an org's request rates,
quotas and fetch cap (settings `quota_*`, `fetch_max_per_org`), or clear an override. They work on
the database directly, like `jobport keys`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

limits_app = typer.Typer(help="Per-org overrides of the rate limits and quotas (works on the database directly).",
                         no_args_is_help=True)


@limits_app.command("set")
def limits_set(
    org: Annotated[str, typer.Option(help="The org (name or id).")],
    key_requests_per_second: Annotated[float | None, typer.Option(min=0, help="Per-key rate (0: off).")] = None,
    key_request_burst: Annotated[int | None, typer.Option(min=1, help="Per-key burst.")] = None,
    org_requests_per_second: Annotated[float | None, typer.Option(min=0, help="Per-org rate (0: off).")] = None,
    org_request_burst: Annotated[int | None, typer.Option(min=1, help="Per-org burst.")] = None,
    concurrent_jobs: Annotated[int | None, typer.Option(min=0, help="Queued or running jobs (0: off).")] = None,
    queued_inputs: Annotated[int | None, typer.Option(min=0, help="Pending inputs (0: off).")] = None,
    fetch_max_per_org: Annotated[int | None, typer.Option(min=1, help="inputsFileUrl fetches at once.")] = None,
    clear: Annotated[list[str] | None, typer.Option(help="Drop this override (the setting applies again); "
                                                    "repeatable, e.g. --clear concurrent_jobs.")] = None,
) -> None:
    """Override limits of ORG (the options given) and print the overrides now set, as JSON.
    Servers apply them within a few seconds."""
    from jobport.cli.main import _fail, _operator_context
    from jobport.domain.errors import DomainError
    from jobport.services import limits

    given = {"key_requests_per_second": key_requests_per_second, "key_request_burst": key_request_burst,
             "org_requests_per_second": org_requests_per_second, "org_request_burst": org_request_burst,
             "concurrent_jobs": concurrent_jobs, "queued_inputs": queued_inputs,
             "fetch_max_per_org": fetch_max_per_org}
    values: dict[str, float | int | None] = {name: value for name, value in given.items() if value is not None}
    values.update({name.replace("-", "_"): None for name in clear or []})
    try:
        now_set = limits.set_org_limits(_operator_context(), org, values)
    except DomainError as e:
        _fail(e)
    Console(stderr=True).print(f"org {escape(org)}: overrides now set", style="dim", highlight=False)
    print(json.dumps(now_set, indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    app.add_typer(limits_app, name="limits")
