"""The audit trail, electronic signatures and the permanence of readings and audit records."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, timedelta

import pgtrigger
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from pypdf import PdfReader

from alarms.models import (
    CalibrationCertificate,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationChannel,
    SuppressionWindow,
)
from monitoring.audit import SECRET, audit_context
from monitoring.excursion_actions import (
    excursion_acknowledge,
    excursion_assign,
    excursion_close,
    vendor_alert_acknowledge,
)
from monitoring.models import (
    AlarmRule,
    AuditRecord,
    Channel,
    DeploymentGroup,
    Device,
    Excursion,
    ExcursionNote,
    ExcursionSignature,
    Position,
    Reading,
    VendorAlert,
)
from monitoring.partitions import create_month_partition
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account, make_user


@pytest.fixture
def channel(db):
    device = Device.objects.create(account=make_account(), vendor_id="d1", name="Fridge 1")
    return Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")


@pytest.fixture
def excursion(channel):
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    return Excursion.objects.create(
        channel=channel, rule=rule, started_at=FIXED_NOW - timedelta(hours=3), ended_at=FIXED_NOW
    )


def test_it_acknowledges_and_closes_with_signatures_and_audit_records(excursion):
    user = make_user()
    user.first_name, user.last_name = "Ada", "Quality"
    user.save()
    closer = make_user("bob")
    excursion_acknowledge(excursion, user, "Door left open by the night shift", PASSWORD, username="qa")
    excursion_assign(excursion, user, closer)
    excursion_close(
        excursion,
        closer,
        "no_product_impact",
        "Door alarm added",
        PASSWORD,
        product_impact="not_affected",
        username="bob",
    )
    excursion.refresh_from_db()
    assert excursion.state == "closed" and excursion.closed_by == closer
    assert [(s.full_name, s.meaning) for s in excursion.signatures.all()] == [
        ("Ada Quality", "Acknowledged"),
        ("bob", "Closed: no product impact"),
    ]
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk)).order_by(
        "id"
    )
    assert [r.action for r in trail] == [
        "create",
        "update",
        "acknowledge",
        "update",
        "investigate",
        "update",
        "close",
    ]
    acknowledged = trail[1]
    assert acknowledged.username == "qa" and acknowledged.reason == "Door left open by the night shift"
    assert acknowledged.changes["state"] == ["open", "acknowledged"]
    assert trail[5].changes["disposition"] == ["", "no_product_impact"]
    assert trail[5].changes["product_impact"] == ["", "not_affected"]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda e, u: excursion_acknowledge(e, u, "", PASSWORD, username="qa"), "comment is required"),
        (
            lambda e, u: excursion_acknowledge(e, u, "ok", "wrong password", username="qa"),
            "Signature refused",
        ),
        (
            lambda e, u: excursion_close(
                e, u, "no_product_impact", "cause", PASSWORD, product_impact="released", username="qa"
            ),
            "acknowledge it before",
        ),
    ],
)
def test_it_refuses_a_missing_comment_a_wrong_password_and_a_wrong_state(excursion, step, message):
    user = make_user()
    with pytest.raises(ValidationError) as refused:
        step(excursion, user)
    assert message in " ".join(refused.value.messages)
    excursion.refresh_from_db()
    assert excursion.state == "open" and not excursion.signatures.exists()


def test_closing_needs_a_disposition_a_root_cause_and_the_product_impact(excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "seen", PASSWORD, username="qa")
    excursion_assign(excursion, user, user)
    closer = make_user("bob")
    with pytest.raises(ValidationError, match="disposition is required"):
        excursion_close(excursion, closer, "", "cause", PASSWORD, product_impact="released", username="bob")
    with pytest.raises(ValidationError, match="root cause is required"):
        excursion_close(excursion, closer, "other", " ", PASSWORD, product_impact="released", username="bob")
    with pytest.raises(ValidationError, match="product impact is required"):
        excursion_close(excursion, closer, "other", "cause", PASSWORD, username="bob")


def test_it_acknowledges_a_vendor_alert(channel):
    alert = VendorAlert.objects.create(
        account=channel.device.account, vendor_alert_id="a1", alert_type="High", started_at=FIXED_NOW
    )
    user = make_user()
    vendor_alert_acknowledge(alert, user, "Checked on site")
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.acknowledgement_comment == "Checked on site"
    with pytest.raises(ValidationError, match="already acknowledged"):
        vendor_alert_acknowledge(alert, user, "again")


def test_a_rule_change_in_the_page_records_who_what_old_new_and_why(client, channel):
    admin = make_user("boss", role="Admin")
    client.force_login(admin)
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    data = {"name": "2–8", "quantity": "temperature", "channel": channel.pk, "low_limit": 2, "high_limit": 9}
    data |= {"delay_minutes": 0, "clear_margin": 0, "severity": "alarm", "activation_energy": 83.144}
    response = client.post(f"/rules/{rule.pk}/", data | {"reason": "New vaccine range", "enabled": "on"})
    assert response.status_code == 302
    record = AuditRecord.objects.filter(model="monitoring.alarmrule", action="update").get()
    assert (record.username, record.reason) == ("boss", "New vaccine range")
    assert record.changes == {"high_limit": [8.0, 9.0]}


def test_a_rule_for_another_quantity_must_name_its_channel(client, channel):
    client.force_login(make_user("boss", role="Admin"))
    volts = Channel.objects.create(device=channel.device, name="ch3", quantity="other", unit="V")
    data = {"name": "Supply", "quantity": "other", "high_limit": 3.0, "delay_minutes": 0, "clear_margin": 0}
    data |= {
        "severity": "alarm",
        "activation_energy": 83.144,
        "reason": "Pressure transmitter",
        "enabled": "on",
    }
    refused = client.post("/rules/", data | {"device": channel.device.pk})
    assert refused.status_code == 400 and "must name its channel" in refused.content.decode()
    assert client.post("/rules/", data | {"channel": volts.pk}).status_code == 302
    assert AlarmRule.objects.get(name="Supply").channel == volts


def test_the_rules_page_is_for_admin_users_only(client, db):
    client.force_login(make_user())
    assert client.get("/rules/").status_code == 403
    client.force_login(make_user("boss", role="Admin"))
    assert client.get("/rules/").status_code == 200


def _records_from_now_on():
    """The audit records written after this call (the migrations' grants of permissions to the roles are
    in the trail of a new database too)."""
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return lambda: AuditRecord.objects.filter(id__gt=last)


def test_device_and_account_changes_are_audited_but_sync_bookkeeping_is_not(channel):
    records = _records_from_now_on()
    device = channel.device
    device.name = "Vaccine fridge"
    device.save()
    device.battery, device.last_seen = 50.0, FIXED_NOW
    device.save(update_fields=["battery", "last_seen"])
    account = device.account
    account.credentials = {"api_key": "k-new-secret-123"}
    account.save()
    updates = records().filter(action="update")
    assert [(r.model, r.username, set(r.changes)) for r in updates.order_by("id")] == [
        ("monitoring.device", "system", {"name"}),
        ("vendors.vendoraccount", "system", {"credentials"}),
    ]
    assert "k-new-secret-123" not in str(AuditRecord.objects.values_list("changes", flat=True))


def test_the_audit_trail_page_filters_and_exports_csv(client, excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "Door left open", PASSWORD, username="qa")
    client.force_login(user)
    page = client.get("/audit/", {"user": "qa"})
    assert page.status_code == 200 and "Door left open" in page.content.decode()
    response = client.get("/audit/", {"model": "monitoring.excursion", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["model"] for r in rows} == {"monitoring.excursion"}
    state = next(r for r in rows if r["field"] == "state")
    assert (state["user"], state["old"], state["new"], state["reason"]) == (
        "qa",
        "open",
        "acknowledged",
        "Door left open",
    )


def test_the_excursion_page_acknowledges_with_a_signature(client, excursion):
    user = make_user()
    client.force_login(user)
    assert client.get(f"/excursions/{excursion.pk}/").status_code == 200
    refused = client.post(
        f"/excursions/{excursion.pk}/acknowledge/", {"comment": "seen", "username": "qa", "password": "nope"}
    )
    assert refused.status_code == 400 and "Signature refused" in refused.content.decode()
    done = client.post(
        f"/excursions/{excursion.pk}/acknowledge/",
        {"comment": "seen", "username": "qa", "password": PASSWORD},
    )
    assert done.status_code == 302
    excursion.refresh_from_db()
    assert excursion.state == "acknowledged"


def _one_of_each_permanent_record(channel) -> dict[str, str]:
    """A reading, a position, an audit record, a signature, an investigation note and a notice sent;
    returns {table: a column}."""
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    Position.objects.create(device=channel.device, timestamp=FIXED_NOW, latitude=60.1, longitude=24.9)
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    excursion = Excursion.objects.create(channel=channel, rule=rule, started_at=FIXED_NOW)
    user = make_user()
    note = ExcursionNote.objects.create(excursion=excursion, author=user, text="Door", created_at=FIXED_NOW)
    ExcursionSignature.objects.create(
        excursion=excursion, user=user, full_name="qa", meaning="Investigated", signed_at=FIXED_NOW, note=note
    )
    Notification.objects.create(
        excursion=excursion,
        target_key="t1",
        kind="escalation",
        level=1,
        via="email",
        recipient="qa@example.com",
        status="delivered",
        sent_at=FIXED_NOW,
    )
    assert AuditRecord.objects.exists()
    return {
        "monitoring_reading": "value",
        "monitoring_position": "latitude",
        "monitoring_auditrecord": "reason",
        "monitoring_excursionsignature": "meaning",
        "monitoring_excursionnote": "text",
        "alarms_notification": "recipient",
    }


def _partitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(refused.value)


def test_the_database_refuses_update_delete_and_truncate_of_permanent_records(channel):
    tables = _one_of_each_permanent_record(channel)
    with connection.cursor() as cursor:  # the foreign keys' deferred checks, done (else TRUNCATE waits)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, column in tables.items():
        # The table, and each partition: the month of the rows, the default one, the months made ahead.
        partitions = _partitions(table)
        assert bool(partitions) == (table in ("monitoring_reading", "monitoring_position"))
        for name in [table, *partitions]:
            assert "permanent" in _refused(f"TRUNCATE {name} CASCADE"), name
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
                if not cursor.fetchone()[0]:
                    continue  # a row trigger has no row to refuse in an empty partition
            assert "permanent" in _refused(f"UPDATE {name} SET {column} = {column}"), name
            assert "permanent" in _refused(f"DELETE FROM {name}"), name
    assert Reading.objects.count() == Position.objects.count() == ExcursionSignature.objects.count() == 1
    assert ExcursionNote.objects.get().text == "Door" and Notification.objects.count() == 1


def test_alarm_handling_configuration_is_audited_with_secrets_shown_as_changed(channel):
    records = _records_from_now_on()
    boss = make_user("boss", role="Admin")
    with audit_context(user=boss, reason="Night cover"):
        policy = EscalationPolicy.objects.create(name="Vaccines", repeat_minutes=30)
        EscalationLevel.objects.create(policy=policy, position=1, delay_minutes=15)
        EscalationPolicy.objects.filter(pk=policy.pk).update(repeat_minutes=20)
        sms = NotificationChannel.objects.create(name="SMS to Ana", secret={"url": "sms://token-123@gw"})
        sms.consecutive_failures = 3  # delivery bookkeeping: not in the trail
        sms.save(update_fields=["consecutive_failures"])
        SuppressionWindow.objects.create(
            kind="defrost",
            reason="Weekly defrost",
            channel=channel,
            weekdays="6",
            daily_start="02:00",
            duration_minutes=30,
        )
        CalibrationCertificate.objects.create(
            channel=channel,
            calibrated_on=date(2026, 1, 5),
            due_on=date(2027, 1, 5),
            laboratory="Lab",
            certificate_number="C-17",
            file="calibration/2026/c17.pdf",
        )
    trail = {(r.model, r.action, r.object_repr): r for r in records().exclude(model="auth.user")}
    assert {key for key in trail if key[0].startswith("alarms.")} == {
        ("alarms.escalationpolicy", "create", "Vaccines"),
        ("alarms.escalationpolicy", "update", "Vaccines"),
        ("alarms.escalationlevel", "create", "Vaccines: level 1"),
        ("alarms.notificationchannel", "create", "SMS to Ana"),
        ("alarms.suppressionwindow", "create", "Weekly defrost"),
        ("alarms.calibrationcertificate", "create", "C-17 (Lab)"),
    }
    changed = trail[("alarms.escalationpolicy", "update", "Vaccines")]
    assert (changed.changes, changed.username, changed.reason) == (
        {"repeat_minutes": [30, 20]},
        "boss",
        "Night cover",
    )
    assert trail[("alarms.notificationchannel", "create", "SMS to Ana")].changes["secret"] == [None, SECRET]
    assert "token-123" not in str(list(records().values_list("changes", flat=True)))


def test_every_partition_has_the_row_refusals(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, count(t.tgname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname LIKE 'pgtrigger_refuse_%%'"
            " WHERE i.inhparent IN ('monitoring_reading'::regclass, 'monitoring_position'::regclass)"
            " GROUP BY 1"
        )
        found = dict(cursor.fetchall())
    assert len(found) >= 2 * 5 and set(found.values()) == {2}, found  # UPDATE/DELETE and TRUNCATE


def test_no_session_setting_opens_a_door(channel):
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL coldchain.allow_purge = 'on'")  # the purge of migration 0005, gone
        with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
            cursor.execute("DELETE FROM monitoring_reading")
    assert Reading.objects.count() == 1


def test_a_partition_made_later_refuses_like_the_others(channel):
    # A reading of a month without a partition waits in the default one; making the month's partition
    # moves it there (detach, create, insert again, drop the detached copy: no DELETE, no TRUNCATE).
    Reading.objects.create(channel=channel, timestamp=datetime(2031, 1, 15, tzinfo=UTC), value=4.0)
    with connection.cursor() as cursor:  # the foreign key's deferred check, done (as a commit would)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    name = create_month_partition("monitoring_reading", date(2031, 1, 1))
    assert Reading.objects.get().value == 4.0
    for partition in (name, "monitoring_reading_default"):
        assert "permanent" in _refused(f"TRUNCATE {partition}")
    assert "permanent" in _refused(f"DELETE FROM {name}")
    assert "permanent" in _refused(f"UPDATE {name} SET value = 3")


# -- The trail is written by PostgreSQL: every path of change, with who and why --------------------------


def test_queryset_updates_bulk_writes_and_raw_sql_are_audited(channel):
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    AlarmRule.objects.filter(pk=rule.pk).update(high_limit=9)  # no model signal sees this
    DeploymentGroup.objects.bulk_create([DeploymentGroup(name="Ward A"), DeploymentGroup(name="Ward B")])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE monitoring_device SET installation_status = 'retired' WHERE id = %s", [channel.device_id]
        )
    admin = make_user("boss", role="Admin")
    with audit_context(user=admin, reason="New vaccine range"):
        AlarmRule.objects.filter(pk=rule.pk).update(low_limit=3)
    trail = AuditRecord.objects.filter(action__in=["create", "update"]).order_by("id")
    updates = [(r.model, r.username, r.changes, r.reason) for r in trail.filter(action="update")]
    assert ("monitoring.alarmrule", "system", {"high_limit": [8, 9]}, "") in updates
    assert ("monitoring.device", "system", {"installation_status": ["installed", "retired"]}, "") in updates
    assert ("monitoring.alarmrule", "boss", {"low_limit": [2, 3]}, "New vaccine range") in updates
    created = trail.filter(action="create", model="monitoring.deploymentgroup")
    assert sorted(created.values_list("object_repr", flat=True)) == ["Ward A", "Ward B"]


def test_users_roles_and_permissions_are_audited_and_passwords_never_shown(db):
    records = _records_from_now_on()
    user = make_user("ann")  # created, and given the QA role
    qa = Group.objects.get(name="QA")
    qa.permissions.remove(Permission.objects.get(codename="close_excursion"))
    user.set_password("another long passphrase 42")
    user.save()
    trail = records().order_by("id")
    roles = trail.get(model="auth.user", object_id=str(user.pk), changes__has_key="groups")
    assert roles.changes == {"groups": [None, "added: QA"]}
    permission = trail.get(model="auth.group", object_id=str(qa.pk))
    assert permission.changes == {"permissions": [None, "removed: monitoring.close_excursion"]}
    password = trail.filter(model="auth.user", action="update", changes__has_key="password").get()
    assert password.changes["password"] == [SECRET, SECRET]
    assert user.password not in str(list(trail.values_list("changes", flat=True)))


def test_a_credential_change_is_recorded_as_changed_and_a_plain_save_records_nothing(db):
    account = make_account()
    account.refresh_from_db()
    account.save()  # everything written again, the same credentials: nothing changed
    account.name = "Lab"
    account.save()
    account.credentials = {"api_key": "k-new-secret-123"}
    account.save()
    updates = AuditRecord.objects.filter(model="vendors.vendoraccount", action="update").order_by("id")
    assert [r.changes for r in updates] == [
        {"name": ["thermotrack account", "Lab"]},
        {"credentials": [SECRET, SECRET]},
    ]
    assert "k-new-secret-123" not in str(list(AuditRecord.objects.values_list("changes", flat=True)))


def test_every_download_of_data_is_audited_with_who_and_what_period(client, channel):
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW - timedelta(hours=1), value=5.0)
    client.force_login(make_user())
    day = {"range": "custom", "start": "2026-11-20", "end": "2026-11-20"}
    response = client.get(f"/devices/{channel.device_id}/readings.csv", day)
    assert response.status_code == 200
    exported = AuditRecord.objects.get(action="export", model="monitoring.device")
    assert exported.username == "qa" and exported.object_id == str(channel.device_id)
    assert exported.changes["exported"] == [None, "readings"]
    assert exported.changes["period"] == [None, "2026-11-20 00:00:00 UTC to 2026-11-21 00:00:00 UTC"]
    client.get("/audit/", {"user": "qa", "format": "csv"})
    trail_export = AuditRecord.objects.get(action="export", model="monitoring.auditrecord")
    assert trail_export.changes["filters"] == [None, "user=qa"]


def test_the_audit_trail_exports_a_signed_pdf(client, excursion):
    user = make_user()
    user.first_name, user.last_name = "Ada", "Quality"
    user.save()
    with audit_context(user=user, reason="Door left open"):
        Excursion.objects.filter(pk=excursion.pk).update(root_cause="Door")
    client.force_login(user)
    response = client.get("/audit/", {"model": "monitoring.excursion", "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    text = " ".join(text.split())
    signed = AuditRecord.objects.get(action="export", model="monitoring.auditrecord")
    assert f"Generated by Ada Quality (qa) on {signed.at:%Y-%m-%d %H:%M}" in text
    assert f"Audit record no. {signed.pk} holds the SHA-256 of this file" in text
    assert "Filters: model=monitoring.excursion" in text and "Door left open" in text
    assert signed.changes["sha256"] == [None, hashlib.sha256(response.content).hexdigest()]
    assert signed.changes["records"][1] == AuditRecord.objects.filter(model="monitoring.excursion").count()


def test_the_audit_trail_page_filters_by_record_user_and_day(client, excursion, channel):
    rule = excursion.rule
    with audit_context(user=make_user("boss", role="Admin"), reason="wider"):
        AlarmRule.objects.filter(pk=rule.pk).update(high_limit=9)
    client.force_login(make_user())
    page = client.get("/audit/", {"model": "monitoring.alarmrule", "object_id": rule.pk, "user": "boss"})
    body = page.content.decode()
    changed = "Alarm rule 2–8: high limit from 8 to 9."
    assert changed in body and "wider" in body and "Excursion" not in body
    today = AuditRecord.objects.latest("at").at.date().isoformat()
    assert changed in client.get("/audit/", {"start": today, "end": today}).content.decode()
    assert "No audit records" in client.get("/audit/", {"end": "2001-01-01"}).content.decode()


# -- Rule versions ---------------------------------------------------------------------------------------


def test_a_rule_edit_keeps_the_old_version_and_the_excursion_its_limits(client, channel):
    admin = make_user("boss", role="Admin")
    client.force_login(admin)
    data = {"name": "2–8", "quantity": "temperature", "channel": channel.pk, "low_limit": 2, "high_limit": 8}
    data |= {"delay_minutes": 0, "clear_margin": 0, "severity": "alarm", "activation_energy": 83.144}
    assert client.post("/rules/", data | {"reason": "Vaccines", "enabled": "on"}).status_code == 302
    rule = AlarmRule.objects.get(channel=channel)
    excursion = Excursion.objects.create(
        channel=channel, rule=rule, low_limit=2, high_limit=8, started_at=FIXED_NOW - timedelta(hours=1)
    )
    edited = client.post(
        f"/rules/{rule.pk}/", data | {"high_limit": 9, "reason": "Wider range", "enabled": "on"}
    )
    assert edited.status_code == 302
    AlarmRule.objects.filter(pk=rule.pk).update(delay_minutes=15)  # a path with no user: still a version
    versions = list(
        rule.versions.order_by("number").values_list(
            "number", "high_limit", "delay_minutes", "author", "reason"
        )
    )
    assert versions == [
        (1, 8, 0, "boss", "Vaccines"),
        (2, 9, 0, "boss", "Wider range"),
        (3, 9, 15, "system", ""),
    ]
    excursion.refresh_from_db()
    assert excursion.rule_version.number == 1 and excursion.rule_version.high_limit == 8
    later = Excursion.objects.create(
        channel=channel, rule=rule, low_limit=2, high_limit=9, started_at=FIXED_NOW
    )
    assert later.rule_version_id is None  # set by PostgreSQL; read back from the database
    later.refresh_from_db()
    assert later.rule_version.number == 3

    page = client.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "2.0 to 8.0" in page and "version 1 of" in page
    history = client.get(f"/rules/{rule.pk}/").content.decode()
    assert "Wider range" in history and "Vaccines" in history
    assert history.index("<td>3</td>") < history.index("<td>2</td>") < history.index("<td>1</td>")
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        rule.versions.update(high_limit=20)


def test_a_new_record_lists_the_fields_that_hold_something(channel):
    rule = AlarmRule.objects.create(name="Freezer", channel=channel, high_limit=-15)
    created = AuditRecord.objects.get(model="monitoring.alarmrule", object_id=str(rule.pk), action="create")
    assert created.changes["high_limit"] == [None, -15] and created.changes["name"] == [None, "Freezer"]
    assert "low_limit" not in created.changes and "recipients" not in created.changes


def test_an_application_role_that_owns_nothing_cannot_switch_the_refusals_off(channel):
    """How production should connect (README): a role with every privilege on the tables but no
    ownership and no superuser right. PostgreSQL refuses it the changes, and every way around the
    triggers: disabling them, the replica mode, django-pgtrigger's ignore switch."""
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    with transaction.atomic(), connection.cursor() as cursor:  # the role goes with the rollback
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign key's deferred check, done
        cursor.execute("CREATE ROLE coldchain_app_test NOSUPERUSER")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO coldchain_app_test")
        cursor.execute("SET LOCAL ROLE coldchain_app_test")
        every_refusal = [t.get_pgid(m) for m, t in pgtrigger.registered() if t.name.startswith("refuse_")]
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(every_refusal) + "}"]
        )
        for statement, refusal in [
            ("UPDATE monitoring_reading SET value = 9", "permanent"),
            ("DELETE FROM monitoring_auditrecord", "permanent"),
            ("TRUNCATE monitoring_reading", "permanent"),
            ("ALTER TABLE monitoring_reading DISABLE TRIGGER ALL", "must be owner"),
            ("SET session_replication_role = replica", "permission denied"),
        ]:
            with pytest.raises(DatabaseError, match=refusal), transaction.atomic():
                cursor.execute(statement)
        cursor.execute("RESET ROLE")
    assert Reading.objects.get().value == 5.0
