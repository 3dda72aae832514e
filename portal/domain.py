"""The one domain error: a rule said no, with a message for the user, an HTTP status and a field."""
from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request; `message` is for the user, `status` the HTTP answer."""

    status = 422
    title: str | None = None

    def __init__(self, message: str, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class BadInput(DomainError):
    """A value from the request could not be read (422)."""


class NotFound(DomainError):
    """What was asked for does not exist (404)."""

    status = 404


class Forbidden(DomainError):
    """The acting user's role may not do this (403)."""

    status = 403


class Conflict(DomainError):
    """Someone else changed or holds it first, or it is in the wrong state now (409)."""

    status = 409
