"""The one error type action functions raise for refused input or refused transitions."""

from __future__ import annotations


class ActionError(Exception):
    """A request that cannot be carried out, and why, in words for the person who made it.

    `field` names the input at fault (forms attach the message there); `status` is what
    the REST API answers: 400 for bad input, 409 for a state that does not allow it.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int = 400,
        code: str = "invalid",
        details: list | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code
        self.details = details or []
