"""What happens at each login and logout, whichever page it goes through (ours or the admin's).

At login: the session's clocks start (``users/sessions.py``), the password-change requirement is copied
into the session (``users/passwords.py``), the login is audited, and the user is told once when and from
where they last logged in and how many failed attempts (wrong passwords at login or when signing) came
since: the way a user notices that someone tries their account (21 CFR 11.300(d)). That comes from
django-axes' logs: ``AccessLog`` (one row per login, with its address) and ``AccessFailureLog`` (one row
per failure; on with ``AXES_ENABLE_ACCESS_FAILURE_LOG``).

At logout: audited, as a logout or as an expired session.
"""

from __future__ import annotations

from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessFailureLog, AccessLog
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest
from django.utils import timezone

from monitoring.audit import record
from monitoring.choices import AuditAction
from users.passwords import REQUIRED_KEY, password_change_required
from users.sessions import ENDED_BECAUSE, start_session_clock


def connect_signals() -> None:
    user_logged_in.connect(on_login, dispatch_uid="users-login")
    user_logged_out.connect(on_logout, dispatch_uid="users-logout")


def on_login(sender, request: HttpRequest, user, **kwargs) -> None:
    start_session_clock(request)
    if password_change_required(user):
        request.session[REQUIRED_KEY] = True
    # Sets request.axes_attempt_time and the address, if axes has not yet (it does at its own receiver).
    AxesProxyHandler.update_request(request)
    address = request.axes_ip_address
    notice = last_login_notice(user, before=request.axes_attempt_time)
    record(AuditAction.LOGIN, user, {"address": [None, address or "unknown"]}, user=user)
    # A login without a page (the test client's force_login) has no messages to show.
    messages.info(request, notice, fail_silently=True)


def on_logout(sender, request: HttpRequest, user, **kwargs) -> None:
    if user is None:
        return
    reason = getattr(request, ENDED_BECAUSE, None)
    if reason is not None:
        record(AuditAction.SESSION_EXPIRED, user, {"session": [None, "ended"]}, reason=reason, user=user)
    else:
        record(AuditAction.LOGOUT, user, {}, user=user)


def last_login_notice(user, before: datetime) -> str:
    """What ``user`` is told at login, from the logins before ``before`` (the current login's time):
    "Last login: 2 Dec 2026 14:02 UTC from 10.0.0.5. 3 failed attempts since."."""
    username = user.get_username()
    previous = AccessLog.objects.filter(username=username, attempt_time__lt=before).order_by("-attempt_time")
    previous = previous.only("attempt_time", "ip_address").first()
    since = previous.attempt_time if previous is not None else user.date_joined
    failures = AccessFailureLog.objects.filter(username=username, attempt_time__gt=since).count()
    attempts = (
        "No failed attempts" if failures == 0 else f"{failures} failed attempt{'' if failures == 1 else 's'}"
    )
    if previous is None:
        return f"No earlier login on record. {attempts} since the account was created."
    address = previous.ip_address or "an unknown address"
    return f"Last login: {time_with_zone(previous.attempt_time)} from {address}. {attempts} since."


def time_with_zone(moment: datetime) -> str:
    """``2 Dec 2026 14:02 UTC``, in the zone of the page (the user's, else the site's)."""
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"
