"""The web dashboard at `/ui`: server-rendered pages (Jinja2) with htmx and its SSE extension for
live updates, shipped with its static files inside the package (nothing from another host).
`build_dashboard(app)` returns the ASGI app that `server.py` mounts at `/ui`."""

from jobport.dashboard.app import build_dashboard

__all__ = ["build_dashboard"]
