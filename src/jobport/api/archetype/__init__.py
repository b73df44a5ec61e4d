"""The Archetype AI batch surface (`/v0.5`): files, pipeline registry, jobs and their I/O,
events and progress. It is also jobport's native API."""
