"""The admin API (`/v0.5/admin`, beside the Archetype surface, in its error format): orgs (create,
list; an admin key's) and API keys (create with the plaintext shown once in the answer, list
without secrets, revoke). An admin key manages every org's keys; an org key its own org's keys of
scope org and app; an app key none (403). The CLI `jobport keys ...` does the same on the database."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from jobport.api.archetype.paging import Page
from jobport.api.archetype.render import error_body, iso
from jobport.api.deps import AdminPrincipal, CtxDep, OrgPrincipal
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import auth
from jobport.services.auth import IssuedKey, KeyCreate, OrgCreate

router = APIRouter(prefix="/admin", tags=["admin"], route_class=surface_route(error_body))


class OrgPublic(BaseModel):
    id: str
    name: str
    created_at: str | None
    budget_units: int | None


class OrgList(BaseModel):
    total: int
    offset: int
    limit: int
    orgs: list[OrgPublic]


class KeyPublic(BaseModel):
    id: str
    prefix: str = Field(description="The key's first characters, to tell keys apart (never the whole key).")
    org_id: str
    scope: auth.Scope
    app_id: str | None = Field(description="The app a key of scope app is bound to.")
    name: str | None
    created_at: str | None
    revoked_at: str | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once (only its hash is stored).")


class KeyList(BaseModel):
    total: int
    offset: int
    limit: int
    keys: list[KeyPublic]


def org_public(org: Any) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "created_at": iso(org.created_at), "budget_units": org.budget_units}


def key_public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "prefix": row.prefix, "org_id": row.org_id, "scope": row.scope, "app_id": row.app_id,
            "name": row.name, "created_at": iso(row.created_at), "revoked_at": iso(row.revoked_at)}


def key_created(issued: IssuedKey) -> dict[str, Any]:
    return {**key_public(issued.key), "key": issued.plaintext}


@router.post("/orgs", status_code=status.HTTP_201_CREATED, summary="Create an org (admin key)",
             response_model=OrgPublic, responses=errors(409))
def create_org(body: OrgCreate, ctx: CtxDep, who: AdminPrincipal) -> dict[str, Any]:
    return org_public(auth.create_org(ctx, who, body))


@router.get("/orgs", summary="List orgs, oldest first (admin key)", response_model=OrgList)
def list_orgs(ctx: CtxDep, who: AdminPrincipal, page: Page) -> dict[str, Any]:
    found = auth.list_orgs(ctx, who, page.offset, page.limit)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "orgs": [org_public(o) for o in found.items]}


@router.post("/keys", status_code=status.HTTP_201_CREATED,
             summary="Create an API key; the answer holds the key itself, shown once",
             response_model=KeyCreated, responses=errors(404))
def create_key(body: KeyCreate, ctx: CtxDep, who: OrgPrincipal) -> dict[str, Any]:
    """`org` defaults to the caller's; only an admin key names another org or creates admin keys.
    A key of scope `app` is bound to `app` (its id or name) and sees only that app's objects."""
    return key_created(auth.issue_key(ctx, who, body))


@router.get("/keys", summary="List API keys, oldest first (no secrets; revoked ones included)",
            response_model=KeyList, responses=errors(404))
def list_keys(ctx: CtxDep, who: OrgPrincipal, page: Page,
              org: Annotated[str | None, Query(max_length=200, description="Only this org's keys (id or name); "
                                               "an org key sees only its own org's")] = None) -> dict[str, Any]:
    found = auth.list_keys(ctx, who, org, page.offset, page.limit)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "keys": [key_public(k) for k in found.items]}


@router.delete("/keys/{key_id}", summary="Revoke an API key (it answers 401 from the next request on)",
               response_model=KeyPublic, responses=errors(404))
def revoke_key(key_id: str, ctx: CtxDep, who: OrgPrincipal) -> dict[str, Any]:
    return key_public(auth.revoke_key(ctx, who, key_id))
