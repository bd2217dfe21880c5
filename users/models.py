"""What we keep about a user beyond Django's ``User``."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserProfile(models.Model):
    """One per user who needs one: a user without a profile has nothing special to do."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    password_change_required = models.BooleanField(
        default=False,
        help_text="Set when an administrator creates the user or sets their password: every page sends the "
        "user to the password change page until they choose their own password.",
    )

    def __str__(self) -> str:
        return f"Profile of {self.user}"
