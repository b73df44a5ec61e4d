"""Operator command for retention (`jobport retention set`): give an org its own retention of
finished jobs, or return it to the setting `JOBPORT_RETENTION_JOB_DAYS`. Works on the database
directly, like `jobport keys`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

retention_app = typer.Typer(help="How long an org's finished jobs are kept (works on the database directly).",
                            no_args_is_help=True)


@retention_app.command("set")
def retention_set(
    org: Annotated[str, typer.Option(help="The org (name or id).")],
    days: Annotated[float | None, typer.Option(min=0, help="Keep finished jobs this many days (0: forever).")] = None,
    default: Annotated[bool, typer.Option("--default", help="Drop the org's own retention: the setting "
                                          "JOBPORT_RETENTION_JOB_DAYS applies again.")] = False,
) -> None:
    """Set ORG's retention of finished jobs (the retention service applies it at its next pass)."""
    from jobport.cli.main import _fail, _operator_context
    from jobport.domain.errors import DomainError
    from jobport.services import retention

    if (days is None) == (not default):
        raise typer.BadParameter("give either --days N or --default", param_hint="--days")
    try:
        retention.set_org_retention(_operator_context(), org, None if default else days)
    except DomainError as e:
        _fail(e)
    what = "the setting JOBPORT_RETENTION_JOB_DAYS" if default else ("forever" if days == 0 else f"{days:g} days")
    Console(stderr=True).print(f"org {escape(org)}: finished jobs kept {what}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
