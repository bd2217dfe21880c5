"""The check of an electronic signature's two components, throttled like a login.

Two components (21 CFR 11.200(a)(1)): the first signature of a session asks for the user name and the
password; later signatures in the same continuous session (the same login: it ends at logout, after
``SESSION_IDLE_MINUTES`` without activity and ``SESSION_MAX_HOURS`` after the login) ask for the password
only. A first signature without the user name, or with another user's name, is refused and audited.
Without a request (the shell, a test) there is no session: every signature asks for both.

A signature is a password typed again, so guessing it is guessing a password: each refused signature is
an audit event and counts as a failed login for django-axes (the same ``AXES_FAILURE_LIMIT``, the same
counters by user name and by address). At the limit the user is locked out as a failed login would lock
them out: their session ends, the next login is refused until the cool-off ends or an administrator
unlocks it, and the administrators get an email. A user already locked out (say, from another session)
cannot sign either.

Without a request (the shell, a test) there is no address to count and nothing is throttled; the refusal
is still audited.
"""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils import timezone

from monitoring.audit import record
from monitoring.choices import AuditAction
from monitoring.notifications import administrators_emails, send_once, site_link
from users.sessions import STARTED_KEY

# In the session once its user has signed with both components: the user's id and the login time, so
# that a new login (or another user's) starts over with both components.
IDENTIFIED_KEY = "signature_identified"


class SignatureLockedOut(PermissionDenied):
    """Too many refused signatures (or logins): the user is logged out and locked out."""


def _credentials(user) -> dict:
    # Where django-axes reads the user name from, as for a login form.
    return {getattr(settings, "AXES_USERNAME_FORM_FIELD", "username"): user.get_username()}


def _session_mark(request: HttpRequest | None, user) -> str | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    return f"{user.pk}:{session.get(STARTED_KEY, '')}"


def user_name_required(request: HttpRequest | None, user) -> bool:
    """Whether the next signature of ``user`` needs the user name as well as the password: the first in
    this session (and every one without a session)."""
    mark = _session_mark(request, user)
    return mark is None or request.session.get(IDENTIFIED_KEY) != mark


def check_signature(
    user,
    password: str,
    subject,
    meaning: str,
    request: HttpRequest | None = None,
    username: str | None = None,
) -> None:
    """Return if the signature's components are ``user``'s: the password, and the user name when this is
    the first signature of the session. Otherwise audit the refusal on ``subject`` (the excursion) and
    raise ``ValidationError``, or ``SignatureLockedOut`` once the limit is reached."""
    credentials = _credentials(user)
    if request is not None and AxesProxyHandler.is_locked(request, credentials):
        end_session(request)
        raise SignatureLockedOut("Locked out: too many failed logins or refused signatures.")
    username = (username or "").strip()
    if not username and user_name_required(request, user):
        _refuse(
            user, subject, meaning, "The first signature of a session needs the user name: none was typed."
        )
        raise ValidationError(
            "Signature refused: the first signature of a session needs your user name and your password.",
            code="username",
        )
    right_name = not username or username == user.get_username()
    if right_name and password and user.check_password(password):
        mark = _session_mark(request, user)
        if mark is not None:
            request.session[IDENTIFIED_KEY] = mark
        return
    _refuse(
        user,
        subject,
        meaning,
        "The password typed to sign was not correct."
        if right_name
        else "The user name typed to sign is not the signer's.",
    )
    if request is not None:
        # Counted as a failed login: axes records it and, at the limit, marks the request locked out.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            lock_out(request, user, subject)
            raise SignatureLockedOut("Locked out: too many refused signatures.")
    if not right_name:
        raise ValidationError("Signature refused: this is not your user name.", code="signature")
    raise ValidationError("Signature refused: the password is not correct.", code="signature")


def _refuse(user, subject, meaning: str, why: str) -> None:
    record(
        AuditAction.SIGNATURE_REFUSED,
        subject,
        {"signature": [None, f"refused: {meaning}"]},
        reason=why,
        user=user,
    )


def lock_out(request: HttpRequest, user, subject) -> None:
    """Audit the lockout, tell the administrators, end the session."""
    limit = settings.AXES_FAILURE_LIMIT
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    record(
        AuditAction.LOCKED_OUT,
        user,
        {"locked_out": [None, f"{limit} refused signatures or failed logins"]},
        reason=f"Locked out for {minutes} minutes after a refused signature on {subject._meta.verbose_name} "
        f"{subject.pk}.",
        user=user,
    )
    now = timezone.now()
    context = {
        "user": user,
        "subject": subject,
        "subject_link": site_link("excursion_detail", subject.pk)
        if subject._meta.model_name == "excursion"
        else "",
        "limit": limit,
        "minutes": minutes,
        "address": getattr(request, "axes_ip_address", None) or "unknown",
        "at": now,
        "unlock_link": site_link("admin:axes_accessattempt_changelist"),
    }
    send_once(
        f"signature-lockout:{user.pk}:{now.isoformat()}",
        "signature-lockout",
        context,
        administrators_emails(),
    )
    end_session(request)


def end_session(request: HttpRequest) -> None:
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        logout(request)
