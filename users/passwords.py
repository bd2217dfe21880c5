"""Passwords a user chooses themself (21 CFR 11.300(b), EU GMP Annex 11 §12.1).

The policy is Django's validators, configured from the environment (``AUTH_PASSWORD_VALIDATORS`` in the
settings: ``PASSWORD_MIN_LENGTH`` characters at least, 12 by default; not one of 20,000 common
passwords; not like the user name, names or email; not only digits). Django applies them wherever a
password is chosen in a form: the password change page, the admin's "add user" and "set password". Code
that calls ``User.set_password`` itself (the demo, the tests) is not checked.

A password an administrator typed is known to two people: the user must replace it. Creating a user
with a password in the admin, or setting another user's password there, marks the user; every page then
sends them to the password change page until they have chosen their own. Each of these steps is an
audit event.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from monitoring.audit import SECRET, record
from monitoring.choices import AuditAction
from users.models import UserProfile
from users.sessions import whole_page_redirect

# Copied into the session at login, so that no page needs a query to know it. Setting the flag always
# comes with a new password, which ends the user's other sessions (Django's session hash), so a session
# never holds a stale "not required".
REQUIRED_KEY = "password_change_required"

# What a user who must change their password may still reach.
ALLOWED_URL_NAMES = ("password_change", "logout", "admin:logout")


def password_change_required(user) -> bool:
    return UserProfile.objects.filter(user=user, password_change_required=True).exists()


def password_set_by_administrator(user, administrator) -> None:
    """An administrator set ``user``'s password (in the admin, when creating the user or later)."""
    record(
        AuditAction.PASSWORD_CHANGED,
        user,
        {"password": [None, SECRET]},
        reason=f"Set by the administrator {administrator.get_username()}.",
        user=administrator,
    )
    if user.pk == administrator.pk or not user.has_usable_password():
        return  # one's own password is known to nobody else; no password, nothing to replace
    UserProfile.objects.update_or_create(user=user, defaults={"password_change_required": True})
    record(
        AuditAction.PASSWORD_CHANGE_REQUIRED,
        user,
        {"password_change_required": [False, True]},
        reason="An administrator set the password: the user must choose their own at the next login.",
        user=administrator,
    )


def password_changed_by_user(request: HttpRequest, user) -> None:
    """``user`` chose a new password on the password change page: audited, and the requirement cleared."""
    record(
        AuditAction.PASSWORD_CHANGED,
        user,
        {"password": [None, SECRET]},
        reason="Changed by the user on the password change page.",
        user=user,
    )
    cleared = UserProfile.objects.filter(user=user, password_change_required=True).update(
        password_change_required=False
    )
    if cleared:
        record(
            AuditAction.PASSWORD_CHANGE_CLEARED,
            user,
            {"password_change_required": [True, False]},
            reason="The user chose their own password.",
            user=user,
        )
    request.session.pop(REQUIRED_KEY, None)


class PasswordChangeRequiredMiddleware:
    """Sends a user who must choose a new password to the password change page, from every page (after
    SessionTimeoutMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.session.get(REQUIRED_KEY):
            allowed = {reverse(name) for name in ALLOWED_URL_NAMES}
            if request.path not in allowed:
                # The page itself says why (users/views.py).
                return whole_page_redirect(request, reverse("password_change"))
        return self.get_response(request)
