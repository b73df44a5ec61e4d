"""Pipelines: the SDK every pipeline implements (`sdk`), the entry-point registry, and the built-ins.

Nothing here imports from api/, services/ or store/: the engine drives pipelines only through the
protocol in `sdk`.
"""
