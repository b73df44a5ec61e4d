"""The `jobport` command (typer + rich): `main` holds the app, `serve`, `keys` and `models`; one
module per other command group (`client`: files, jobs, submit; `apps`: apps, usage; `callbacks`)."""
