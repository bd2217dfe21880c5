"""The admin's user pages: a password an administrator sets must be replaced by the user
(``users/passwords.py``)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.shortcuts import redirect

from users.passwords import password_set_by_administrator

User = get_user_model()


class UserAdmin(DjangoUserAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and obj.has_usable_password():
            password_set_by_administrator(obj, request.user)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        before = user.password if user is not None else None
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and user is not None:
            user.refresh_from_db(fields=["password"])
            if user.password != before:
                password_set_by_administrator(user, request.user)
        return response


admin.site.unregister(User)
admin.site.register(User, UserAdmin)


def password_change_on_our_page(request, extra_context=None):
    """One password change page for everyone, ours: the admin's own would change the password without the
    audit event and without ending a required change. Still behind the admin's staff check."""
    return redirect("password_change")


admin.site.password_change = password_change_on_our_page
