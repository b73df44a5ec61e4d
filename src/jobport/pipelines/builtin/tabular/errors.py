"""`RecordError`: a record (or the whole file) that cannot be read, mapped or coerced.

It is an `InputError` (the worker fails that input) that also says which setting or part of the
request it concerns (`field`) and how to fix it (`suggestion`), so that `preflight` can return it
as a `CreateProblem` when the Gravity surface checks a file before storing the job.
"""

from __future__ import annotations

from jobport.pipelines.sdk import CreateProblem, InputError

FILE_FIELD = "file"


class RecordError(InputError):
    def __init__(
        self, message: str, field: str = FILE_FIELD, suggestion: str = "", code: str = "invalid_input"
    ) -> None:
        super().__init__(message, code)
        self.field = field
        self.suggestion = suggestion

    def problem(self) -> CreateProblem:
        return CreateProblem(self.field, self.message, self.suggestion, self.code)
