"""The password check of an electronic signature, throttled like a login.

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


class SignatureLockedOut(PermissionDenied):
    """Too many refused signatures (or logins): the user is logged out and locked out."""


def _credentials(user) -> dict:
    # Where django-axes reads the user name from, as for a login form.
    return {getattr(settings, "AXES_USERNAME_FORM_FIELD", "username"): user.get_username()}


def check_signature_password(
    user, password: str, subject, meaning: str, request: HttpRequest | None = None
) -> None:
    """Return if ``password`` is ``user``'s; otherwise audit the refusal on ``subject`` (the excursion)
    and raise ``ValidationError``, or ``SignatureLockedOut`` once the limit is reached."""
    credentials = _credentials(user)
    if request is not None and AxesProxyHandler.is_locked(request, credentials):
        end_session(request)
        raise SignatureLockedOut("Locked out: too many failed logins or refused signatures.")
    if password and user.check_password(password):
        return
    record(
        AuditAction.SIGNATURE_REFUSED,
        subject,
        {"signature": [None, f"refused: {meaning}"]},
        reason="The password typed to sign was not correct.",
        user=user,
    )
    if request is not None:
        # Counted as a failed login: axes records it and, at the limit, marks the request locked out.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            lock_out(request, user, subject)
            raise SignatureLockedOut("Locked out: too many refused signatures.")
    raise ValidationError("Signature refused: the password is not correct.", code="signature")


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
