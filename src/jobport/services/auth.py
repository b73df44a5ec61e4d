"""API keys and what they may do: first-start bootstrap of the default org and admin key, key scopes
(`admin`, `org`, `app`), lookup of the caller, and the administration of orgs and keys (the CLI's
`jobport keys ...` and the admin API `/v0.5/admin`).

- `admin`: operate the server (orgs, and keys of every org) and everything an `org` key may do in
  its own org.
- `org`: everything of its org (jobs, files, apps, budget, webhook secret, its org's keys).
- `app`: only the jobs, files and usage of the app the key is bound to, on every surface; another
  app's objects answer 404 as another org's do, and org-wide actions 403 (`ScopeRequired`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from jobport.domain.errors import Conflict, DomainError, Invalid, NotFound
from jobport.services.context import AppContext, write_secret_file
from jobport.services.paging import Page
from jobport.store import apps as app_store
from jobport.store import orgs
from jobport.store.db import transaction
from jobport.store.tables import ApiKey, Org


class Scope(enum.StrEnum):
    ADMIN = "admin"
    ORG = "org"
    APP = "app"


# What a key of each scope may also do: an admin key is an org key of its org; an org key may act
# for any of its org's apps.
_INCLUDES = {Scope.ADMIN: {Scope.ADMIN, Scope.ORG, Scope.APP}, Scope.ORG: {Scope.ORG, Scope.APP},
             Scope.APP: {Scope.APP}}
_GET_ONE = {
    Scope.ADMIN: "Use the admin key (JOBPORT_ADMIN_KEY, or the key the first start wrote to <home>/admin.key).",
    Scope.ORG: "Use a key of scope org (`jobport keys create --org ORG`, or POST /v0.5/admin/keys "
               'with "scope": "org").',
}


class ScopeRequired(DomainError):
    """The key is valid but its scope does not allow the action (403)."""

    status_code = 403
    default_code = "insufficient_scope"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's org, the app the key is bound to (None for an org-wide key), its
    scope and the key's id."""

    org: Org
    app_id: str | None
    scope: Scope = Scope.ORG
    key_id: str | None = None

    @property
    def only_app(self) -> str | None:
        """The app whose objects alone this caller sees (an app key), None for the whole org."""
        return self.app_id if self.scope is Scope.APP else None

    def allows(self, needed: Scope) -> bool:
        return needed in _INCLUDES[self.scope]

    def require(self, needed: Scope, action: str) -> None:
        """ScopeRequired (403) naming the scope `action` needs, unless this key's scope includes it."""
        if not self.allows(needed):
            wanted = "admin" if needed is Scope.ADMIN else f"{needed.value} (or admin)"
            raise ScopeRequired(f"{action} needs an API key of scope {wanted}; this key's scope is "
                                f"{self.scope.value}", field="scope", suggestion=_GET_ONE.get(needed, ""))


def admin_key_path(ctx: AppContext) -> Path:
    return ctx.settings.home / "admin.key"


def bootstrap(ctx: AppContext) -> str | None:
    """Create the default org on first start. Registers `JOBPORT_ADMIN_KEY` if set (with scope
    admin); otherwise the first start generates an admin key, stores it 0600 under home and
    returns it (to print once)."""
    with transaction(ctx.sessions) as session:
        first_start = not orgs.any_org(session)
        org = orgs.get_or_create_org(session, ctx.settings.default_org)
        if ctx.settings.admin_key:
            row = orgs.get_key(session, ctx.settings.admin_key)
            if row is None:
                orgs.add_key(session, org, ctx.settings.admin_key, name="admin", scope=Scope.ADMIN)
            elif row.scope != Scope.ADMIN and row.app_id is None:
                row.scope = Scope.ADMIN  # a database from before key scopes (migration 0008)
            return None
        if first_start:
            _, plaintext = orgs.add_key(session, org, name="admin", scope=Scope.ADMIN)
            write_secret_file(admin_key_path(ctx), plaintext)
            return plaintext
    return None


def _checked_scope(scope: Scope | str | None, app: str | None) -> Scope:
    """The scope of a new key: `app` when bound to an app, else `org`, unless given; a key bound to
    an app has scope app, and a key of scope app is bound to one."""
    try:
        chosen = Scope(scope) if scope is not None else (Scope.APP if app is not None else Scope.ORG)
    except ValueError:
        raise Invalid(f"scope: {scope!r} is not one of admin, org, app", field="scope",
                      code="invalid_parameter", suggestion="Use scope admin, org or app.") from None
    if chosen is Scope.APP and app is None:
        raise Invalid("a key of scope app needs the app it is bound to", field="app", code="missing_parameter",
                      suggestion="Name the app (its name or id), e.g. --app iris.")
    if chosen is not Scope.APP and app is not None:
        raise Invalid(f"a key bound to an app has scope app, not {chosen.value}", field="scope",
                      code="invalid_parameter", suggestion="Leave the scope out, or leave the app out for an "
                                                           "org-wide key.")
    return chosen


def _bound_app_id(session: Session, org: Org, app: str | None) -> str | None:
    """The id of the org's `app` (name or id) a new key is bound to; NotFound if it has none such."""
    if app is None:
        return None
    found = app_store.get(session, org.id, app)
    if found is None:
        raise NotFound(f"org {org.name} has no app {app!r}", field="app",
                       suggestion="Create it first (`jobport apps create ...`, POST /v0.5/apps), or list them "
                                  "with GET /v0.5/apps.")
    return found.id


def create_key(ctx: AppContext, org_name: str, name: str | None = None, app: str | None = None,
               scope: Scope | str | None = None) -> tuple[str, str]:
    """A new key for `org_name` (created if new), bound to the org's `app` (name or id) if given.
    The scope defaults to `app` for a key bound to an app, else `org`. Returns (org id, plaintext)."""
    chosen = _checked_scope(scope, app)
    with transaction(ctx.sessions) as session:
        org = orgs.get_or_create_org(session, org_name)
        _, plaintext = orgs.add_key(session, org, name=name, scope=chosen, app_id=_bound_app_id(session, org, app))
        return org.id, plaintext


def authenticate_principal(ctx: AppContext, key: str) -> Principal | None:
    """The caller a key stands for, or None (unknown or revoked). A found key is remembered for
    `http_key_cache_seconds` (one query fewer per request); unknown keys are always looked up."""
    digest = orgs.hash_key(key)
    ttl = ctx.settings.http.key_cache_seconds
    cached = ctx.key_cache.get(digest, ttl) if ttl > 0 else None
    if isinstance(cached, Principal):
        return cached
    with ctx.sessions() as session:
        found = orgs.org_and_key(session, key)
    if found is None:
        return None
    org, row = found
    principal = Principal(org, row.app_id, Scope(row.scope), row.id)
    if ttl > 0:
        ctx.key_cache.put(digest, principal)
    return principal


# ---- administration of orgs and keys (admin API, CLI) ---------------------------------------------

class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$",
                      description="Unique name of the org (no leading or trailing spaces).")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org: str | None = Field(None, min_length=1, max_length=200,
                            description="The org (id or name); default: the caller's org.")
    scope: Scope | None = Field(None, description="admin, org or app; default: app with `app`, else org.")
    app: str | None = Field(None, min_length=1, max_length=200,
                            description="The app (id or name) a key of scope app is bound to.")
    name: str | None = Field(None, max_length=200, description="A label for the key.")


@dataclass(frozen=True)
class IssuedKey:
    """A key just created, with its plaintext (shown once; only its hash is kept)."""

    key: ApiKey
    plaintext: str


def create_org(ctx: AppContext, caller: Principal, body: OrgCreate) -> Org:
    caller.require(Scope.ADMIN, "creating an org")
    with transaction(ctx.sessions) as session:
        if orgs.find_org(session, body.name) is not None:
            raise Conflict(f"an org named {body.name!r} already exists", field="name", code="org_exists",
                           suggestion="Pick another name; list the orgs with GET /v0.5/admin/orgs.")
        return orgs.add_org(session, body.name)


def list_orgs(ctx: AppContext, caller: Principal, offset: int, limit: int) -> Page[Org]:
    caller.require(Scope.ADMIN, "listing orgs")
    with ctx.sessions() as session:
        rows, total = orgs.list_orgs(session, offset, limit)
    return Page(rows, total)


def _org_for(session: Session, caller: Principal, ref: str | None) -> Org:
    """The org a key request names (id or name; None: the caller's): any org for an admin, only its
    own for an org key (another org answers 404, as its objects do)."""
    if ref is None:
        return caller.org
    org = orgs.find_org(session, ref)
    if org is None or (not caller.allows(Scope.ADMIN) and org.id != caller.org.id):
        raise NotFound(f"org {ref!r} not found", field="org",
                       suggestion="Name the org by id or name; an admin lists them with GET /v0.5/admin/orgs.")
    return org


def issue_key(ctx: AppContext, caller: Principal, body: KeyCreate) -> IssuedKey:
    """A new key of `body.org` (an existing org). An org key may create org and app keys of its own
    org; only an admin key creates admin keys or keys of other orgs."""
    caller.require(Scope.ORG, "creating API keys")
    chosen = _checked_scope(body.scope, body.app)
    if chosen is Scope.ADMIN:
        caller.require(Scope.ADMIN, "creating an admin key")
    with transaction(ctx.sessions) as session:
        org = _org_for(session, caller, body.org)
        row, plaintext = orgs.add_key(session, org, name=body.name, scope=chosen,
                                      app_id=_bound_app_id(session, org, body.app))
        session.expunge(row)
    return IssuedKey(row, plaintext)


def list_keys(ctx: AppContext, caller: Principal, org_ref: str | None, offset: int, limit: int) -> Page[ApiKey]:
    """Keys without their secrets: an admin sees every org's (or `org_ref`'s), an org key its org's."""
    caller.require(Scope.ORG, "listing API keys")
    with ctx.sessions() as session:
        every_org = org_ref is None and caller.allows(Scope.ADMIN)
        org_id = None if every_org else _org_for(session, caller, org_ref).id
        rows, total = orgs.list_keys(session, org_id, offset, limit)
    return Page(rows, total)


def revoke_key(ctx: AppContext, caller: Principal | None, key_id: str) -> ApiKey:
    """Revoke a key: it answers 401 from the next request on. An org key revokes keys of its org,
    an admin key any key; `caller` None is the operator at the CLI (on the database directly)."""
    if caller is not None:
        caller.require(Scope.ORG, "revoking API keys")
    with transaction(ctx.sessions) as session:
        row = orgs.get_key_by_id(session, key_id)
        if row is None or (caller is not None and not caller.allows(Scope.ADMIN) and row.org_id != caller.org.id):
            raise NotFound(f"API key {key_id!r} not found", field="key_id",
                           suggestion="List the keys with GET /v0.5/admin/keys (or `jobport keys list`).")
        orgs.revoke_key(session, row)
        session.expunge(row)
    ctx.key_cache.clear()  # a revoked key answers 401 at once in this process
    return row


def all_keys(ctx: AppContext, org_ref: str | None, offset: int, limit: int) -> Page[ApiKey]:
    """The CLI's list (the operator, on the database directly): every key, or `org_ref`'s (id or name)."""
    with ctx.sessions() as session:
        org = orgs.find_org(session, org_ref) if org_ref is not None else None
        if org_ref is not None and org is None:
            raise NotFound(f"org {org_ref!r} not found", field="org", suggestion="Check the org's name or id.")
        rows, total = orgs.list_keys(session, org.id if org else None, offset, limit)
    return Page(rows, total)
