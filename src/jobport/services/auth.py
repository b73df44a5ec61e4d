"""API keys: first-start bootstrap of the default org and admin key, key creation, lookup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobport.domain.errors import NotFound
from jobport.services.context import AppContext, write_secret_file
from jobport.store import apps as app_store
from jobport.store import orgs
from jobport.store.db import transaction
from jobport.store.tables import Org


def admin_key_path(ctx: AppContext) -> Path:
    return ctx.settings.home / "admin.key"


def bootstrap(ctx: AppContext) -> str | None:
    """Create the default org on first start. Registers `JOBPORT_ADMIN_KEY` if set; otherwise the
    first start generates a key, stores it 0600 under home and returns it (to print once)."""
    with transaction(ctx.sessions) as session:
        first_start = not orgs.any_org(session)
        org = orgs.get_or_create_org(session, ctx.settings.default_org)
        if ctx.settings.admin_key:
            if not orgs.key_exists(session, ctx.settings.admin_key):
                orgs.add_key(session, org, ctx.settings.admin_key, name="admin")
            return None
        if first_start:
            _, plaintext = orgs.add_key(session, org, name="admin")
            write_secret_file(admin_key_path(ctx), plaintext)
            return plaintext
    return None


def create_key(ctx: AppContext, org_name: str, name: str | None = None, app: str | None = None) -> tuple[str, str]:
    """A new key for `org_name` (created if new), bound to the org's `app` (name or id) if given.
    Returns (org id, plaintext key)."""
    with transaction(ctx.sessions) as session:
        org = orgs.get_or_create_org(session, org_name)
        app_id = None
        if app is not None:
            found = app_store.get(session, org.id, app)
            if found is None:
                raise NotFound(f"org {org_name} has no app {app!r}", field="app",
                               suggestion="Create it first: `jobport apps create ...`, or list them with "
                                          "`jobport apps list`.")
            app_id = found.id
        row, plaintext = orgs.add_key(session, org, name=name)
        row.app_id = app_id
        return org.id, plaintext


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's org, and the app the key is bound to (None for an org-wide key)."""

    org: Org
    app_id: str | None


def authenticate_principal(ctx: AppContext, key: str) -> Principal | None:
    with ctx.sessions() as session:
        found = orgs.org_and_app_for_key(session, key)
    return Principal(*found) if found else None
