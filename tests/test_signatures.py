"""Electronic signatures an auditor accepts (21 CFR 11.50, 11.70, 11.200, 11.300) and the excursion
lifecycle (issue 18): one test per requirement, through the pages as a QA user uses them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from pypdf import PdfReader

from monitoring.excursion_actions import (
    excursion_acknowledge,
    excursion_add_note,
    excursion_assign,
    excursion_close,
)
from monitoring.models import (
    AlarmRule,
    AuditRecord,
    Channel,
    Device,
    Excursion,
    ExcursionReportFile,
    ExcursionSignature,
)
from monitoring.reports import build_report, render_pdf
from monitoring.user_time_zone import TIME_ZONE_COOKIE
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account, make_user
from tests.test_reports import eager_tasks  # noqa: F401 (a fixture)


@pytest.fixture
def excursion(db):
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Vaccine fridge")
    channel = Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")
    rule = AlarmRule.objects.create(name="2–8 °C", channel=channel, low_limit=2, high_limit=8)
    return Excursion.objects.create(
        channel=channel, rule=rule, started_at=FIXED_NOW - timedelta(hours=3), ended_at=FIXED_NOW
    )


def logged_in(username: str, role: str = "QA", **names) -> Client:
    user = make_user(username, role)
    if names:
        for field, value in names.items():
            setattr(user, field, value)
        user.save()
    client = Client()
    client.force_login(user)
    return client


def excursion_user(username: str) -> User:
    return User.objects.get(username=username)


def post(client: Client, excursion: Excursion, step: str, htmx: bool = True, **data):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/excursions/{excursion.pk}/{step}/", data, headers=headers)


def under_investigation(excursion: Excursion, by: str = "qa") -> None:
    """Acknowledged by ``by`` (signed) and assigned to them, as the services do it."""
    user = make_user(by)
    excursion_acknowledge(excursion, user, "Door left open", PASSWORD, username=by)
    excursion_assign(excursion, user, user)


# -- Two components (11.200(a)(1)) ------------------------------------------------------------------


def test_the_first_signature_of_a_session_without_the_user_name_is_refused(excursion):
    qa = logged_in("qa")
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    assert 'name="username"' in page and "first signature of this session" in page

    refused = post(qa, excursion, "acknowledge", comment="Door left open", password=PASSWORD)
    assert refused.status_code == 400
    assert "needs your user name and your password" in refused.content.decode()
    excursion.refresh_from_db()
    assert excursion.state == "open" and not excursion.signatures.exists()
    refusal = AuditRecord.objects.get(action="sign_refused")
    assert refusal.username == "qa" and "user name" in refusal.reason

    # Another user's name with one's own password is refused too.
    make_user("someone")
    wrong = post(qa, excursion, "acknowledge", comment="x", username="someone", password=PASSWORD)
    assert wrong.status_code == 400 and "not your user name" in wrong.content.decode()

    signed = post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    assert signed.status_code == 200 and signed["HX-Redirect"] == f"/excursions/{excursion.pk}/"


def test_later_signatures_in_the_same_session_ask_for_the_password_only(excursion):
    qa = logged_in("qa")
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    post(qa, excursion, "investigate", assignee=excursion_user("qa").pk)
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    assert 'name="username"' not in page and 'name="password"' in page
    noted = post(qa, excursion, "note", note="Logger read on site: 9.1 °C", password=PASSWORD)
    assert noted.status_code == 200, noted.content.decode()
    assert excursion.signatures.count() == 2

    # A new login is a new session: the user name is asked again.
    qa.logout()
    qa.force_login(excursion_user("qa"))
    again = post(qa, excursion, "note", note="Second reading", password=PASSWORD)
    assert again.status_code == 400 and "needs your user name" in again.content.decode()


# -- Manifestation (11.50) ---------------------------------------------------------------------------


def test_each_signature_shows_name_meaning_and_time_with_zone_on_the_page_and_in_the_csv(excursion):
    qa = logged_in("qa", first_name="Ada", last_name="Quality")
    qa.cookies[TIME_ZONE_COOKIE] = "Europe/Helsinki"
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    signature = excursion.signatures.get()
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    local = signature.signed_at.astimezone(ZoneInfo("Europe/Helsinki"))
    assert "Ada Quality" in page and "Acknowledged" in page
    assert f"{local:%Y-%m-%d %H:%M:%S} EET" in page

    answer = qa.get(f"/excursions/{excursion.pk}/signatures.csv")
    (row,) = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert (row["signer_name"], row["signer_user_name"], row["meaning"]) == (
        "Ada Quality",
        "qa",
        "Acknowledged",
    )
    assert row["signed_at_utc"] == signature.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["time_zone"] == "UTC" and row["signature_check"] == "valid"
    assert row["content_sha256"] == signature.content_hash and len(signature.content_hash) == 64


def test_the_pdf_report_holds_each_signatures_name_meaning_and_time(excursion):
    under_investigation(excursion, by="qa")
    closer = make_user("bob")
    closer.first_name, closer.last_name = "Bob", "Builder"
    closer.save()
    excursion_close(
        excursion,
        closer,
        "product_quarantined",
        "Door seal worn",
        PASSWORD,
        product_impact="quarantined",
        username="bob",
    )
    report = build_report(FIXED_NOW - timedelta(days=1), FIXED_NOW + timedelta(hours=1), charts=False)
    for item in report.items:
        item.chart_png = _blank_png()
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(render_pdf(report))).pages).replace(
        "\n", " "
    )
    for signature in excursion.signatures.all():
        stamp = signature.signed_at.strftime("%Y-%m-%d %H:%M:%S")
        assert f"{signature.full_name} — {signature.meaning} — {stamp} UTC" in text, text
    assert "Bob Builder — Closed: product quarantined" in text and "qa — Acknowledged" in text


def test_the_excursion_report_page_gives_the_signatures_as_csv(
    excursion,
    client,
    eager_tasks,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    under_investigation(excursion, by="qa")
    client.force_login(excursion_user("qa"))
    day = FIXED_NOW.date()
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(
            "/excursions/report/",
            {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat(), "format": "sig"},
        )
    assert asked.status_code == 302, asked.content.decode()
    report = ExcursionReportFile.objects.get()
    fetched = client.get(f"/excursions/report/{report.pk}/file/")
    assert fetched["Content-Type"].startswith("text/csv")
    assert fetched["Content-Disposition"].endswith('-signatures.csv"')
    (row,) = list(csv.DictReader(io.StringIO(fetched.content.decode())))
    assert (row["excursion_id"], row["signer_user_name"], row["meaning"]) == (
        str(excursion.pk),
        "qa",
        "Acknowledged",
    )
    assert row["signed_at_utc"].endswith("Z") and row["time_zone"] == "UTC"


def _blank_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 2), "white").save(out, "PNG")
    return out.getvalue()


# -- Linking (11.70) ---------------------------------------------------------------------------------


def test_a_signature_whose_signed_content_changed_shows_as_broken(excursion):
    qa = logged_in("qa")
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Linked" in page and "Broken" not in page

    # The comment the signature signed is rewritten behind the application's back (no signal, no audit).
    Excursion.objects.filter(pk=excursion.pk).update(acknowledgement_comment="Nothing happened")
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Broken" in page and "the signed content has changed since the signature" in page


def test_a_signature_copied_onto_another_excursion_shows_as_broken(excursion):
    qa = logged_in("qa")
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    other = Excursion.objects.create(
        channel=excursion.channel,
        started_at=FIXED_NOW - timedelta(hours=1),
        state="acknowledged",
        acknowledgement_comment="Door left open",
        acknowledged_by=excursion.acknowledged_by,
    )
    original = excursion.signatures.get()
    ExcursionSignature.objects.create(
        excursion=other,
        user=original.user,
        full_name=original.full_name,
        meaning=original.meaning,
        signed_at=original.signed_at,
        state=original.state,
        content_hash=original.content_hash,
    )
    page = qa.get(f"/excursions/{other.pk}/").content.decode()
    assert "Broken" in page


# -- Segregation of duties and approval --------------------------------------------------------------


def test_the_same_user_cannot_acknowledge_and_close_when_segregation_is_on(excursion, settings):
    assert settings.SIGNATURE_SEGREGATION_OF_DUTIES  # on by default
    qa = logged_in("qa")
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    post(qa, excursion, "investigate", assignee=excursion_user("qa").pk)
    page = qa.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "you acknowledged this excursion, so someone else closes it" in page
    refused = post(
        qa,
        excursion,
        "close",
        disposition="other",
        root_cause="Seal",
        product_impact="released",
        password=PASSWORD,
    )
    assert refused.status_code == 400 and "Segregation of duties" in refused.content.decode()
    excursion.refresh_from_db()
    assert excursion.state == "investigating"
    assert not AuditRecord.objects.filter(action="sign_refused").exists()  # no password was tried

    settings.SIGNATURE_SEGREGATION_OF_DUTIES = False
    closed = post(
        qa,
        excursion,
        "close",
        disposition="other",
        root_cause="Seal",
        product_impact="released",
        password=PASSWORD,
    )
    assert closed.status_code == 200
    excursion.refresh_from_db()
    assert excursion.state == "closed"


def test_a_closing_can_require_an_approval_signed_by_a_qa_approver(excursion, settings):
    settings.EXCURSION_APPROVAL_REQUIRED = True
    under_investigation(excursion, by="qa")
    closer = logged_in("bob")
    excursion_user("bob").groups.add(Group.objects.get(name="QA approver"))
    post(
        closer,
        excursion,
        "close",
        disposition="product_quarantined",
        root_cause="Seal",
        product_impact="quarantined",
        username="bob",
        password=PASSWORD,
    )
    excursion.refresh_from_db()
    assert excursion.state == "closed" and excursion.approval_required
    page = closer.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "awaiting approval by a QA approver other than bob" in page
    assert "you closed this excursion, so another QA approver approves it" in page
    # The closer is a QA approver, but may not approve their own closing; a plain QA user may not either.
    assert post(closer, excursion, "approve", password=PASSWORD).status_code == 400
    assert post(logged_in("carol"), excursion, "approve", password=PASSWORD).status_code == 403

    approver = logged_in("dora", role="QA approver")
    approved = post(approver, excursion, "approve", username="dora", password=PASSWORD, comment="Agreed")
    assert approved.status_code == 200, approved.content.decode()
    excursion.refresh_from_db()
    assert excursion.state == "approved" and excursion.approved_by.username == "dora"
    meanings = [s.meaning for s in excursion.signatures.all()]
    assert meanings == ["Acknowledged", "Closed: product quarantined", "Approved"]
    assert AuditRecord.objects.filter(action="approve", username="dora").exists()


# -- The lifecycle ------------------------------------------------------------------------------------


def test_the_lifecycle_goes_through_investigation_with_audited_notes_to_closed(excursion):
    qa = logged_in("qa")
    post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password=PASSWORD)
    early = post(qa, excursion, "note", note="too early", password=PASSWORD)
    assert early.status_code == 400 and "put it under investigation" in early.content.decode()
    investigator = make_user("ivan")
    assert post(qa, excursion, "investigate", assignee=investigator.pk).status_code == 200
    excursion.refresh_from_db()
    assert excursion.state == "investigating" and excursion.assignee == investigator

    post(qa, excursion, "note", note="Seal of the door is worn", password=PASSWORD)
    note = AuditRecord.objects.get(action="note")
    assert note.username == "qa" and note.changes["note"] == [None, "Seal of the door is worn"]
    assert excursion.signatures.filter(meaning="Investigated", note__text="Seal of the door is worn").exists()

    closer = logged_in("bob")
    closed = post(
        closer,
        excursion,
        "close",
        disposition="product_quarantined",
        root_cause="Worn seal",
        product_impact="quarantined",
        username="bob",
        password=PASSWORD,
    )
    assert closed.status_code == 200
    page = closer.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Worn seal" in page and "Quarantined" in page and "Seal of the door is worn" in page
    actions = list(
        AuditRecord.objects.filter(model="monitoring.excursion")
        .exclude(action="update")
        .values_list("action", flat=True)
        .order_by("id")
    )
    assert actions == ["create", "acknowledge", "investigate", "note", "close"]


def test_reopening_needs_a_reason_is_audited_and_supersedes_the_closing(excursion):
    under_investigation(excursion, by="qa")
    bob = make_user("bob")
    excursion_add_note(excursion, bob, "Checked the load", PASSWORD, username="bob")
    excursion_close(excursion, bob, "other", "Seal", PASSWORD, product_impact="released", username="bob")
    client = Client()
    client.force_login(bob)
    refused = post(client, excursion, "reopen", reason="  ")
    assert refused.status_code == 400 and "reason is required" in refused.content.decode()
    assert post(client, excursion, "reopen", reason="New data from the logger").status_code == 200
    excursion.refresh_from_db()
    assert excursion.state == "investigating" and excursion.cycle == 2 and excursion.disposition == ""
    reopened = AuditRecord.objects.get(action="reopen")
    assert (reopened.username, reopened.reason) == ("bob", "New data from the logger")
    page = client.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Superseded" in page and "Broken" not in page  # the closing, not a tampering


# -- Forms: refusals inside the form ------------------------------------------------------------------


def test_a_refused_step_comes_back_inside_its_form_with_what_was_typed(excursion):
    qa = logged_in("qa")
    refused = post(qa, excursion, "acknowledge", comment="Door left open", username="qa", password="nope")
    html = refused.content.decode()
    assert refused.status_code == 400 and "<html" not in html
    assert html.lstrip().startswith('<section id="excursion-actions"')
    assert "Signature refused: the password is not correct." in html and "Door left open" in html
    assert "nope" not in html
    # Without JavaScript: the whole page, the refusal inside the form.
    page = post(qa, excursion, "acknowledge", htmx=False, comment="x", username="qa", password="nope")
    assert page.status_code == 400 and "<html" in page.content.decode()
    assert 'class="problem" role="alert">Signature refused' in page.content.decode()
