"""The password change page: the one place a user chooses their password."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from users.passwords import REQUIRED_KEY, password_changed_by_user


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    required = bool(request.session.get(REQUIRED_KEY))
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        user = form.save()
        # The new password changes the session's hash: keep this session logged in (others end).
        update_session_auth_hash(request, user)
        password_changed_by_user(request, user)
        messages.success(request, "Your password was changed.")
        return redirect("overview")
    return render(request, "registration/password_change_form.html", {"form": form, "required": required})
