from django.utils import timezone


def time_zone(request) -> dict:
    """Pages name the zone their times are shown in."""
    return {"TIME_ZONE_NAME": timezone.get_current_timezone_name()}
