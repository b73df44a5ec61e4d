"""What a user sees of one org's jobs, read through the query services: the readers shared by the
scheduler-driving test worlds (`unit/engine/conftest.World` on the inline executor and
`scale/conftest.RayWorld` on a Ray cluster)."""

from __future__ import annotations

from jobport.services.context import AppContext
from jobport.services.jobs import queries
from jobport.store.tables import JobEvent, JobInput, JobOutput, JobProgress

EVERYTHING = 10_000  # one page holds all a test creates


class JobViews:
    ctx: AppContext
    org_id: str

    def job(self, job_id: str) -> queries.JobWithCounts:
        return queries.job_with_counts(self.ctx, self.org_id, job_id)

    def status(self, job_id: str) -> str:
        return self.job(job_id).job.status

    def counts(self, job_id: str) -> dict[str, int]:
        return self.job(job_id).counts

    def inputs(self, job_id: str) -> list[JobInput]:
        """The job's tracked inputs, in creation order."""
        page = queries.list_inputs(self.ctx, self.org_id, job_id, None, None, 0, EVERYTHING)
        return [row for row in page.items if row.tracked]

    def events(self, job_id: str, event_type: str | None = None, input_id: str | None = None) -> list[JobEvent]:
        return queries.list_events(self.ctx, self.org_id, job_id, None, event_type, input_id, 0, EVERYTHING).items

    def event_types(self, job_id: str) -> list[str]:
        return [e.event_type for e in self.events(job_id)]

    def progress(self, job_id: str) -> list[JobProgress]:
        return queries.list_progress(self.ctx, self.org_id, job_id, None, None, 0, EVERYTHING).items

    def outputs(self, job_id: str) -> list[JobOutput]:
        return [r.output for r in queries.list_outputs(self.ctx, self.org_id, job_id, None, None, 0, EVERYTHING).items]

    def read(self, output: JobOutput) -> str:
        if output.content is not None:  # a small output of a chunked job, kept in its row
            return output.content.decode()
        with self.ctx.blobs.open(output.blob_key) as handle:
            return handle.read().decode()
