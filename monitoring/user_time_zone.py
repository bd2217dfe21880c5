"""The user's time zone: a cookie set on the preferences page (nothing new is stored in the database)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

TIME_ZONE_COOKIE = "timezone"


def zone_from_cookie(request) -> ZoneInfo | None:
    name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A stale or forged cookie falls back to the site's zone instead of failing the page.
        return None


class UserTimeZoneMiddleware:
    """Activates the zone the user chose, else the TIME_ZONE setting; every page names it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_from_cookie(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
