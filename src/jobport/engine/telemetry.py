"""What the scheduler reports about itself, as a protocol: the instruments live in the services
layer (`services.telemetry.Telemetry`, given at composition); the engine only calls these methods.
`NO_TELEMETRY` records nothing (a scheduler built without one, e.g. in unit tests)."""

from __future__ import annotations

from typing import Protocol


class SchedulerTelemetry(Protocol):
    def scheduler_ticked(self, seconds: float, free_slots: int, tasks_in_flight: int) -> None:
        """One scheduler pass did its work in `seconds`; what its executor holds afterwards."""
        ...

    def inputs_retried(self, count: int) -> None:
        """Inputs whose worker died while processing them go back to the queue, spending an attempt."""
        ...

    def inputs_preempted(self, count: int) -> None:
        """Inputs interrupted by the infrastructure go back to the queue without spending an attempt."""
        ...


class _NoTelemetry:
    def scheduler_ticked(self, seconds: float, free_slots: int, tasks_in_flight: int) -> None:
        pass

    def inputs_retried(self, count: int) -> None:
        pass

    def inputs_preempted(self, count: int) -> None:
        pass


NO_TELEMETRY: SchedulerTelemetry = _NoTelemetry()
