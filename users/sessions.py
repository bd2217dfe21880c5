"""How long a login lasts: an idle timeout and an absolute age (21 CFR 11.10(d), EU GMP Annex 11 §12.1).

A session ends after ``SESSION_IDLE_TIMEOUT`` without activity (``SESSION_IDLE_MINUTES``, 15 by default)
and, whatever the activity, ``SESSION_MAX_AGE`` after the login (``SESSION_MAX_HOURS``, 12). Both clocks
live in the session itself: the login time and the time of the last activity.

Only what the user does is activity. A page that polls (the sync progress, the report progress, the
overview's refresh: an ``hx-trigger="every ..."``) sends the ``X-Poll`` header (static/js/app.js adds it
to every such request), and such a request never moves the idle clock: a screen left open on a polling
page still logs out. A poll is still checked, so it is often the request that finds the session over.

An ended session is logged out (an audit event: ``users/logins.py``), and the user goes to the login page
with a message that says why. An htmx request gets ``HX-Redirect``, so the browser loads the whole login
page rather than swapping a login form into a fragment; the same holds for any htmx request that comes
without a login (a logout in another tab, say).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

POLL_HEADER = "X-Poll"
STARTED_KEY = "session_started_at"
LAST_ACTIVITY_KEY = "session_last_activity_at"
# Set on the request while an ended session is logged out, so that the logout is audited as an expiry.
ENDED_BECAUSE = "session_ended_because"

# The last activity is written at most this often (or a twentieth of the idle timeout, if shorter): a page
# and its fragments then cost one session write, not one each.
ACTIVITY_RESOLUTION = timedelta(seconds=30)


def start_session_clock(request: HttpRequest) -> None:
    """At login: the session's age and its idle time count from now."""
    now = timezone.now().isoformat()
    request.session[STARTED_KEY] = now
    request.session[LAST_ACTIVITY_KEY] = now


def is_poll(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def duration_in_words(span: timedelta) -> str:
    """``15 minutes``, ``12 hours``, ``90 minutes``: the largest whole unit."""
    seconds = max(0, int(span.total_seconds()))
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0 seconds"


def why_session_ended(request: HttpRequest, now: datetime) -> str | None:
    """The reason the request's session is over, in words for the user; None while it is valid."""
    started = _moment(request.session.get(STARTED_KEY))
    if started is None:
        return None
    last_activity = _moment(request.session.get(LAST_ACTIVITY_KEY)) or started
    if now - started >= settings.SESSION_MAX_AGE:
        return f"Your session ended: a login lasts at most {duration_in_words(settings.SESSION_MAX_AGE)}."
    if now - last_activity >= settings.SESSION_IDLE_TIMEOUT:
        return (
            f"Your session ended after {duration_in_words(settings.SESSION_IDLE_TIMEOUT)} without activity."
        )
    return None


def note_activity(request: HttpRequest, now: datetime) -> None:
    last_activity = _moment(request.session.get(LAST_ACTIVITY_KEY))
    resolution = min(ACTIVITY_RESOLUTION, settings.SESSION_IDLE_TIMEOUT / 20)
    if last_activity is None or now - last_activity >= resolution:
        request.session[LAST_ACTIVITY_KEY] = now.isoformat()


def _moment(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def whole_page_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect the browser follows with the whole page, also when htmx asked for a fragment."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def page_path(request: HttpRequest) -> str | None:
    """The page the user is on: for htmx, the page that sent the request, not the fragment's URL. None for
    a form post, whose URL is no page to come back to."""
    if getattr(request, "htmx", False):
        return request.htmx.current_url_abs_path
    return request.get_full_path() if request.method in ("GET", "HEAD") else None


def login_redirect(request: HttpRequest) -> HttpResponse:
    next_path = page_path(request)
    login_url = resolve_url(settings.LOGIN_URL)
    if next_path:
        login_url = redirect_to_login(next_path, login_url)["Location"]
    return whole_page_redirect(request, login_url)


class SessionTimeoutMiddleware:
    """Ends idle and too old sessions (after AuthenticationMiddleware, MessageMiddleware and
    HtmxMiddleware, before LoginRequiredMiddleware), and turns a login redirect of an htmx request into
    ``HX-Redirect``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now()
            if _moment(request.session.get(STARTED_KEY)) is None:
                # A session from before these clocks existed: its clocks start now.
                start_session_clock(request)
            reason = why_session_ended(request, now)
            if reason is not None:
                setattr(request, ENDED_BECAUSE, reason)
                logout(request)
                messages.warning(request, f"{reason} Log in again to go on.")
                return login_redirect(request)
            if not is_poll(request):
                note_activity(request, now)
        response = self.get_response(request)
        if getattr(request, "htmx", False) and _is_login_redirect(response):
            # LoginRequiredMiddleware's answer to an htmx request without a login: load the login page
            # whole, and come back to the page the request came from, not to the fragment.
            return login_redirect(request)
        return response


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response["Location"]).path == resolve_url(settings.LOGIN_URL)
