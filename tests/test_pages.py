"""The page shell: navigation, our own static files, no URL to another host."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.factories import make_account, make_user

PAGES = ["/", "/devices/", "/map/", "/alerts/", "/groups/", "/sync/"]
NAVIGATION = ["Overview", "Devices", "Map", "Alerts", "Groups", "Sync status"]


@pytest.fixture
def qa_client(client, db):
    client.force_login(make_user())
    return client


@pytest.mark.parametrize("url", PAGES)
def test_it_renders_every_page_with_the_navigation(qa_client, url):
    response = qa_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for label in NAVIGATION:
        assert f">{label}</a>" in html
    assert 'aria-current="page"' in html


@pytest.mark.parametrize("url", PAGES + ["/login/"])
def test_it_references_no_other_host(client, db, url):
    if url != "/login/":
        client.force_login(make_user())
    make_account(name="Fridge room", base_url="http://127.0.0.1:9/tt")
    html = client.get(url).content.decode()
    external = re.findall(r"""(?:src|href|action)=["']?(?:https?:)?//[^"'\s>]+""", html)
    assert external == []
    assert not re.search(r"https?://", html)


def test_it_serves_htmx_and_plotly_from_our_own_static_files(qa_client):
    html = qa_client.get("/").content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert any("htmx" in s for s in scripts)
    for src in scripts:
        assert src.startswith("/static/")
        assert finders.find(src.removeprefix("/static/")), f"{src} is not one of our static files"
    plotly = finders.find("plotly/plotly.min.js")
    assert plotly and open(plotly, encoding="utf-8", errors="ignore").read(300).lstrip().startswith("/**")
