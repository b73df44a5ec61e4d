"""Executors: how the scheduler runs tasks. `base` is the protocol, `local` runs warm worker
processes on this machine, `inline` runs tasks in-process (the fake twin for unit tests)."""
