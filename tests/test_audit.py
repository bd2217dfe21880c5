"""The audit trail, electronic signatures and the permanence of readings and audit records."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from monitoring.excursion_actions import excursion_acknowledge, excursion_close, vendor_alert_acknowledge
from monitoring.models import (
    AlarmRule,
    AuditRecord,
    Channel,
    Device,
    Excursion,
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
    excursion_acknowledge(excursion, user, "Door left open by the night shift", PASSWORD)
    excursion_close(excursion, user, "no_product_impact", "Door alarm added", PASSWORD)
    excursion.refresh_from_db()
    assert excursion.state == "closed" and excursion.closed_by == user
    assert [(s.full_name, s.meaning) for s in excursion.signatures.all()] == [
        ("Ada Quality", "Acknowledged"),
        ("Ada Quality", "Closed: no product impact"),
    ]
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk)).order_by(
        "id"
    )
    assert [r.action for r in trail] == ["create", "update", "acknowledge", "update", "close"]
    acknowledged = trail[1]
    assert acknowledged.username == "qa" and acknowledged.reason == "Door left open by the night shift"
    assert acknowledged.changes["state"] == ["open", "acknowledged"]
    assert trail[3].changes["disposition"] == ["", "no_product_impact"]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda e, u: excursion_acknowledge(e, u, "", PASSWORD), "comment is required"),
        (lambda e, u: excursion_acknowledge(e, u, "ok", "wrong password"), "Signature refused"),
        (lambda e, u: excursion_close(e, u, "no_product_impact", "cause", PASSWORD), "acknowledge it before"),
    ],
)
def test_it_refuses_a_missing_comment_a_wrong_password_and_a_wrong_state(excursion, step, message):
    user = make_user()
    with pytest.raises(ValidationError) as refused:
        step(excursion, user)
    assert message in " ".join(refused.value.messages)
    excursion.refresh_from_db()
    assert excursion.state == "open" and not excursion.signatures.exists()


def test_closing_needs_a_disposition_and_a_root_cause(excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "seen", PASSWORD)
    with pytest.raises(ValidationError, match="disposition is required"):
        excursion_close(excursion, user, "", "cause", PASSWORD)
    with pytest.raises(ValidationError, match="root cause is required"):
        excursion_close(excursion, user, "other", " ", PASSWORD)


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


def test_device_and_account_changes_are_audited_but_sync_bookkeeping_is_not(channel):
    device = channel.device
    device.name = "Vaccine fridge"
    device.save()
    device.battery, device.last_seen = 50.0, FIXED_NOW
    device.save(update_fields=["battery", "last_seen"])
    account = device.account
    account.credentials = {"api_key": "k-new-secret-123"}
    account.save()
    updates = AuditRecord.objects.filter(action="update")
    assert [(r.model, r.username, set(r.changes)) for r in updates.order_by("id")] == [
        ("monitoring.device", "system", {"name"}),
        ("vendors.vendoraccount", "system", {"credentials"}),
    ]
    assert "k-new-secret-123" not in str(AuditRecord.objects.values_list("changes", flat=True))


def test_the_audit_trail_page_filters_and_exports_csv(client, excursion):
    user = make_user()
    excursion_acknowledge(excursion, user, "Door left open", PASSWORD)
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
    refused = client.post(f"/excursions/{excursion.pk}/acknowledge/", {"comment": "seen", "password": "nope"})
    assert refused.status_code == 400 and "Signature refused" in refused.content.decode()
    done = client.post(f"/excursions/{excursion.pk}/acknowledge/", {"comment": "seen", "password": PASSWORD})
    assert done.status_code == 302
    excursion.refresh_from_db()
    assert excursion.state == "acknowledged"


def _one_of_each_permanent_record(channel) -> dict[str, str]:
    """A reading, a position, an audit record and a signature; returns {table: a column}."""
    Reading.objects.create(channel=channel, timestamp=FIXED_NOW, value=5.0)
    Position.objects.create(device=channel.device, timestamp=FIXED_NOW, latitude=60.1, longitude=24.9)
    rule = AlarmRule.objects.create(name="2–8", channel=channel, low_limit=2, high_limit=8)
    excursion = Excursion.objects.create(channel=channel, rule=rule, started_at=FIXED_NOW)
    excursion_acknowledge(excursion, make_user(), "seen", PASSWORD)
    assert AuditRecord.objects.exists() and ExcursionSignature.objects.exists()
    return {
        "monitoring_reading": "value",
        "monitoring_position": "latitude",
        "monitoring_auditrecord": "reason",
        "monitoring_excursionsignature": "meaning",
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
