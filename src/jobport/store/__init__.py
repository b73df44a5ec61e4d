"""Persistence: SQLAlchemy 2 tables, the engine/session factory, Alembic migrations and one
repository module per aggregate (orgs, files, pipelines, jobs). Sessions are passed in; the
services layer owns transactions.
"""
