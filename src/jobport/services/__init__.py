"""Use cases shared by every surface (create/cancel/retry jobs, files, keys, registry). Services
own transactions; routers call them and translate to and from the wire."""
