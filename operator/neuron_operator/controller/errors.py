"""What a failed API call means for the reconcile. No client here: the decision code that
handles these must not import one (tests/contract/test_purity.py)."""

from __future__ import annotations


class ApiTrouble(Exception):
    """An API call failed. `code` is the HTTP status, or "network" when no answer came."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class UserError(ApiTrouble):
    """The API server refused what the user's object led us to send (400/422, e.g. an invalid
    pod template): retrying will not help, telling the user will."""


class Forbidden(ApiTrouble):
    """403: the operator's service account lacks a permission. Retried with backoff (someone
    may grant it), and reported on the object so that someone does."""


class TransientError(ApiTrouble):
    """A conflict, throttling, server or network error: try again. `retry_after` is the delay
    the server asked for (429 Retry-After), None when it asked for none."""

    def __init__(self, message: str, code: str, retry_after: float | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


def backoff(retry: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff for the `retry`-th retry (0 first): 1, 2, 4, … seconds, capped."""
    return float(min(cap, base * 2 ** max(0, min(retry, 16))))


def retry_delay(error: ApiTrouble, retry: int) -> float:
    """How long to wait before retrying after `error`: never less than the server asked."""
    delay = backoff(retry)
    if isinstance(error, TransientError) and error.retry_after is not None:
        return max(delay, error.retry_after)
    return delay


class AlreadyExists(Exception):
    """A create found an object of that name (409 AlreadyExists): one the store has not seen,
    ours or not. The caller reads it and decides (NameConflict when it is not ours)."""
