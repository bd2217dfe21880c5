"""The excursion page's signed steps in a real browser (Chromium via Playwright): a refused signature
shows inside its form and the page stays; a signature then shows its name, meaning and zoned time.
Screenshots go to screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.models import Channel, Device, Excursion
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account, make_user

# The same Chromium, options and skip marker as the dashboard's browser test.
from tests.test_browser_dashboard import ARGS, CHROMIUM, TABLET, pytestmark, shoot  # noqa: F401


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_signs_an_excursion_in_the_browser(live_server, browser):
    user = make_user("qa")
    user.first_name, user.last_name = "Ada", "Quality"
    user.save()
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Vaccine fridge")
    channel = Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")
    excursion = Excursion.objects.create(
        channel=channel,
        started_at=FIXED_NOW - timedelta(hours=2),
        ended_at=FIXED_NOW,
        low_limit=2,
        high_limit=8,
    )
    context = browser.new_context(viewport=TABLET)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    url = live_server.url
    page.goto(f"{url}/login/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")

    page.goto(f"{url}/excursions/{excursion.pk}/")
    page.fill("#ack-comment", "Door left open by the night shift")
    page.fill("#acknowledge-username", "qa")
    page.fill("#acknowledge-password", "not my password")
    page.click("text=Acknowledge and sign")
    refusal = page.locator("#excursion-actions form .problem")
    refusal.wait_for()
    assert refusal.inner_text() == "Signature refused: the password is not correct."
    # The page is still whole, what was typed is still there, the password is not.
    assert page.locator("h1").inner_text().startswith(f"Excursion #{excursion.pk}")
    assert page.locator("#ack-comment").input_value() == "Door left open by the night shift"
    assert page.locator("#acknowledge-password").input_value() == ""
    shoot(page, "excursion-signature-refused")

    page.fill("#acknowledge-password", PASSWORD)
    page.click("text=Acknowledge and sign")
    page.locator(".signature-list").wait_for()
    row = page.locator(".signature-list tbody tr").first.inner_text()
    assert "Ada Quality" in row and "Acknowledged" in row and " UTC" in row and "Linked" in row
    # The next step asks for the password only: the session's first signature gave the user name.
    assert page.locator("input[name=username]").count() == 0
    shoot(page, "excursion-signed")

    # Under investigation: a note is signed with the password only, and listed with its author and time.
    page.select_option("#investigate-assignee", label="Ada Quality (qa)")
    page.click("button:has-text('Start the investigation')")
    page.locator("#note-text").wait_for()
    page.fill("#note-text", "Door seal worn; product moved to the spare fridge")
    page.fill("#note-password", PASSWORD)
    page.click("text=Add the note and sign")
    page.locator("article.note").wait_for()
    assert "Door seal worn" in page.locator("article.note").inner_text()
    assert page.locator(".signature-list tbody tr").count() == 2
    assert "Investigated" in page.locator(".signature-list tbody tr").nth(1).inner_text()
    # Segregation of duties: the acknowledger is told someone else closes it, with no form to try.
    assert "someone else closes it" in page.locator("#excursion-actions").inner_text()
    assert page.locator("#close-password").count() == 0
    shoot(page, "excursion-under-investigation")
    assert errors == []
    context.close()
