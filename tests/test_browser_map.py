"""The vehicle map in Chromium with no tile server: the offline base map, the view fitted to the chosen
vehicle's track, and not one console error or failed request. Screenshots go to screenshots/."""

from __future__ import annotations

import copy
import http.server
import io
import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from monitoring.models import AlarmRule, Excursion, Position
from tests.factories import PASSWORD, make_account, make_user
from tests.test_browser_dashboard import TABLET, browser, pytestmark, shoot, wait_for_chart  # noqa: F401
from tests.test_dashboard import fill_readings, make_device


@pytest.fixture
def trucks(db):
    """Two refrigerated trucks 500 km apart: one around Helsinki, one around Oulu."""
    account = make_account(slug="trackgps", name="Trucks")
    start = timezone.now() - timedelta(hours=4)
    made = []
    for name, (lat, lon), temperature in (
        ("Truck Helsinki", (60.15, 24.75), lambda i: 4 + i / 40),  # warms past 8 °C
        ("Truck Oulu", (65.0, 25.4), lambda i: 5.0),
    ):
        truck = make_device(account, name, kind="vehicle", humidity=False, latitude=lat, longitude=lon)
        AlarmRule.objects.create(name=f"2-8 °C {name}", device=truck, low_limit=2, high_limit=8)
        fill_readings(truck.channels.get(), start, 240, value=temperature)
        Position.objects.bulk_create(
            Position(
                device=truck,
                timestamp=start + timedelta(minutes=i),
                latitude=lat + i / 1200,
                longitude=lon + i / 600,
                speed_kmh=60,
            )
            for i in range(0, 240, 4)
        )
        made.append(truck)
    make_user("qa")
    return made


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_choosing_a_vehicle_fits_the_offline_map_to_its_track(live_server, trucks, browser):  # noqa: F811
    helsinki, _oulu = trucks
    page = browser.new_context(viewport=TABLET).new_page()
    problems, failed = [], []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto(f"{live_server.url}/map/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/map/")
    wait_for_chart(page, "vehicle-map")

    # No tile server answers (the tests' one is a closed port): our own base map, said in words.
    assert page.get_attribute("#vehicle-map", "data-offline") == "no-tile-server"
    assert page.locator("#vehicle-map-offline-note").is_visible()
    assert page.locator("#vehicle-map .geo .countries path, #vehicle-map .geo .coastlines path").count() > 0
    assert page.locator("#vehicle-map text:text-is('Helsinki')").count() == 1  # a capital, labelled
    view = "(() => { const g = document.getElementById('vehicle-map')._fullLayout.geo; "
    view += "return [g.lonaxis.range, g.lataxis.range]; })()"
    (west, east), (south, north) = page.evaluate(view)
    assert west < 24.75 and east > 25.6 and south < 60.15 and north > 65.2  # both trucks in view
    shoot(page, "map-offline-all-vehicles")

    # Choosing a vehicle fits the view to its track: 60.15-60.35 N, 24.75-25.15 E.
    page.select_option("#id_vehicle", str(helsinki.pk))
    page.wait_for_url(f"**/map/?vehicle={helsinki.pk}*")
    wait_for_chart(page, "vehicle-map")
    (west, east), (south, north) = page.evaluate(view)
    assert west < 24.75 and east > 25.14 and south < 60.15 and north > 60.34
    assert east - west < 1.5 and north - south < 1  # fitted, not the whole region
    # Coloured by its 2-8 °C rule: in range, then too warm.
    names = page.evaluate("document.getElementById('vehicle-map').data.map(t => t.name)")
    assert {"In range", "Too warm"} <= set(names) and "Too cold" not in names
    shoot(page, "map-offline-one-vehicle")

    # The page of an excursion of that truck: its chart draws, the device is one click away.
    channel = helsinki.channels.get()
    started = timezone.now() - timedelta(hours=2)
    excursion = Excursion.objects.create(
        channel=channel, low_limit=2, high_limit=8, started_at=started, peak_value=9.9, peak_at=started
    )
    page.goto(f"{live_server.url}/excursions/{excursion.pk}/")
    wait_for_chart(page, "excursion-chart")
    assert page.locator("h1 a", has_text="Truck Helsinki").count() == 1
    assert page.get_by_text("ongoing for 2 h").count() == 1
    shoot(page, "excursion")
    assert problems == [] and failed == []


@pytest.fixture
def tile_server():
    """A tile server on this machine: every tile is the same light grey PNG."""
    picture = io.BytesIO()
    Image.new("RGB", (256, 256), (225, 230, 235)).save(picture, format="PNG")
    tile = picture.getvalue()

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_a_tile_server_the_map_fits_the_chosen_vehicle(
    live_server,
    trucks,
    browser,  # noqa: F811
    settings,
    tile_server,
):
    helsinki, _oulu = trucks
    settings.MAP_TILE_URL = tile_server + "/{z}/{x}/{y}.png"
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    for directive in ("img-src", "connect-src"):
        policy["DIRECTIVES"][directive] = [*policy["DIRECTIVES"][directive], tile_server]
    settings.CONTENT_SECURITY_POLICY = policy
    page = browser.new_context(viewport=TABLET).new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/map/?vehicle={helsinki.pk}")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    wait_for_chart(page, "vehicle-map")
    assert page.get_attribute("#vehicle-map", "data-offline") is None
    bounds = page.evaluate(
        """(() => { const b = document.getElementById('vehicle-map')._fullLayout.map._subplot.map.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"""
    )
    west, south, east, north = bounds
    assert west < 24.75 and east > 25.14 and south < 60.15 and north > 60.34  # the whole track
    assert east - west < 2 and north - south < 1  # and not much more
    shoot(page, "map-tiles-one-vehicle")
    assert problems == []
