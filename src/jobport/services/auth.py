"""API keys: first-start bootstrap of the default org and admin key, key creation, lookup."""

from __future__ import annotations

from jobport.services.context import AppContext, write_secret_file
from jobport.store import orgs
from jobport.store.db import transaction
from jobport.store.tables import Org


def admin_key_path(ctx: AppContext):
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


def create_key(ctx: AppContext, org_name: str, name: str | None = None) -> tuple[str, str]:
    """A new key for `org_name` (created if new). Returns (org id, plaintext key)."""
    with transaction(ctx.sessions) as session:
        org = orgs.get_or_create_org(session, org_name)
        _, plaintext = orgs.add_key(session, org, name=name)
        return org.id, plaintext


def authenticate(ctx: AppContext, key: str) -> Org | None:
    with ctx.sessions() as session:
        return orgs.org_for_key(session, key)
