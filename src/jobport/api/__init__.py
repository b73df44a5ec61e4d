"""HTTP surfaces: the FastAPI app (`app`), shared dependencies (`deps`), error rendering
(`errors`) and one package per vendor surface. Routers translate wire <-> service calls only."""
