"""Domain errors. Each surface renders them in its own error format (Archetype: `errors[]`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One thing wrong with a request: which field, what is wrong, how to fix it."""

    message: str
    field: str | None = None
    suggestion: str = ""
    code: str = "invalid_request"

    def sentence(self) -> str:
        """The message and the suggestion as one text, punctuated once between them."""
        return join_sentences(self.message, self.suggestion)


def join_sentences(*parts: str) -> str:
    """`parts` joined as sentences: each ends with one full stop ("URL." + "Use …", never "URL.. Use")."""
    texts = [p.strip() for p in parts if p and p.strip()]
    return " ".join(t if t.endswith((".", "!", "?")) else f"{t}." for t in texts)


class DomainError(Exception):
    status_code = 400
    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, suggestion: str = "", field: str | None = None,
                 problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.suggestion = suggestion
        self.field = field
        self.problems = problems or [Problem(message, field, suggestion, self.code)]


class Invalid(DomainError):
    status_code = 400
    default_code = "invalid_request"

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> Invalid:
        first = problems[0]
        err = cls(first.message, code=first.code, suggestion=first.suggestion, field=first.field)
        err.problems = problems
        return err


class Unauthorized(DomainError):
    status_code = 401
    default_code = "unauthorized"


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    default_code = "invalid_file_size"


class Unavailable(DomainError):
    """A backend the server depends on (the blob store) cannot be reached or refuses; the request may
    succeed later, once an operator has fixed it. Nothing was stored."""

    status_code = 503
    default_code = "service_unavailable"


class Misconfigured(DomainError):
    """The server's own configuration is broken (an admin must fix it); not the caller's fault."""

    status_code = 503
    default_code = "server_misconfigured"
