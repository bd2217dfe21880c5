"""Does the map's tile server (``MAP_TILE_URL``) answer? Asked by the server, once per few minutes for
everyone, so a browser on a network without it never fires a failed tile request: with no answer, the
map draws our own offline base map (``static/basemap/``, Natural Earth) under the tracks.

An empty ``MAP_TILE_URL`` means "no tile server": the offline base map, with no probe at all.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2
# A server that answered is asked again after this long; one that did not, sooner.
ANSWERED_FOR_SECONDS = 15 * 60
SILENT_FOR_SECONDS = 3 * 60


def tile_url() -> str:
    return (settings.MAP_TILE_URL or "").strip()


def probe_url(url: str) -> str:
    """The world's single tile (zoom 0), the one every tile server has."""
    return url.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0").replace("{s}", "a")


def tiles_answer() -> bool:
    url = tile_url()
    if not url or "://" not in url:
        return False
    key = f"map-tiles-answer:{url}"
    known = cache.get(key)
    if known is not None:
        return known
    try:
        response = requests.get(
            probe_url(url),
            timeout=PROBE_TIMEOUT_SECONDS,
            headers={"User-Agent": "Cold chain dashboard (tile probe)"},
            stream=True,
        )
        answered = response.status_code == 200 and response.headers.get("Content-Type", "").startswith(
            "image/"
        )
        response.close()
    except requests.RequestException as exc:
        log.info("map tiles: %s does not answer (%s): the offline base map is drawn", url, type(exc).__name__)
        answered = False
    cache.set(key, answered, ANSWERED_FOR_SECONDS if answered else SILENT_FOR_SECONDS)
    return answered


def tile_settings() -> dict:
    """For the page's script: the tile URL split at its scheme (pages carry no literal URL of another
    host; the script joins it), and whether it answers."""
    url = tile_url()
    scheme, _, rest = url.partition("://")
    return {
        "scheme": scheme if rest else "",
        "path": rest or url,
        "answers": tiles_answer(),
    }
