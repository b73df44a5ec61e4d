"""Execution: the scheduler loop service (queue order, admission, leases, recovery, finalization)
and executors that run pipeline workers (`local`: warm worker processes on this machine)."""
