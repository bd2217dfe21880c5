"""Errors a vendor client raises. ``permanent`` separates "stop retrying" from "try again later".

Messages never hold a secret, a URL with a query string or a vendor body that could echo one back.
"""

from __future__ import annotations


class VendorError(Exception):
    permanent = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class AuthenticationError(VendorError):
    """The vendor refused the credentials: retrying will not help, a person must act."""

    permanent = True


class RequestRefused(VendorError):
    """The vendor refused the request itself (a bad parameter, a documented refusal)."""

    permanent = True


class UnavailableError(VendorError):
    """The vendor is down or answered 5xx: try again later."""


class VendorTimeout(UnavailableError):
    """The vendor did not answer in time: try again later."""


class RateLimited(VendorError):
    """The vendor's rate limit is reached: try again after ``retry_after`` seconds."""


class ParseError(VendorError):
    """The vendor's answer could not be read (malformed or truncated): try again later."""


class AnswerTooLarge(UnavailableError):
    """The vendor's answer is larger than the cap (``VENDOR_MAX_ANSWER_BYTES``): it was refused unread,
    so one absurd answer never fills a worker's memory. Temporary: a later answer may be of normal size."""


class UnexpectedError(VendorError):
    """Anything else that broke one account's sync (a bug in a parser, data the database refused): recorded
    on the account like a vendor error and tried again later; the administrators are told."""
