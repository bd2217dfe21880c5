"""Audit trail: our one trigger function and one audit table against django-pghistory's event tables.

Issue 18 asks for django-pghistory "unless you measure a reason not to". Measured here, on PostgreSQL,
on scratch tables shaped like ours (an excursion-like row of 16 columns with a text comment; a vendor-
account-like row with an encrypted credentials column), each in three copies: no trail, our trail
(``coldchain.audit_triggers.AuditTrigger`` calling ``coldchain_audit_row``), pghistory's trackers
(insert, update and delete events, context attached: ``pghistory.context(user=..., reason=...)``).

a) Write cost: 1,000 rows inserted in one statement, 1,000 rows updated in one statement, and 1,000
   single-row updates (one statement each, as the admin and the pages write): ms per 1,000 rows, and the
   overhead over the table with no trail.
b) The audit page's question: "every change by user U between T1 and T2, across the audited tables,
   newest first, page of 50" (with the count the page shows), over ``BENCH_AUDIT_EVENTS`` (200,000) events
   spread over 13 audited tables: our table through the page's own ``filtered_records``, against
   ``pghistory.models.Events`` across 13 event tables, and a hand-written UNION ALL of them, for two
   configurations (the context in its own table, pghistory's default; the context copied into each
   event, ``pghistory.ContextJSONField``), each with the indexes a careful deployment would add; medians.
c) What each keeps of a credential change: our row ("(changed, not shown)"), pghistory tracking every
   column (the ciphertext is copied), pghistory with ``exclude=["credentials"]`` (does it still know that
   a credential changed?), and pghistory with an extra ``UpdateEvent`` conditioned on the credentials.

Everything runs in one transaction that is rolled back. django-pghistory is in the ``dev`` extra; without
it only our side is measured and the report says so.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

ROWS = 1000
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "200000"))
AUDITED_TABLES = 13
USERS = 20
# The page's period: one month out of the year of events.
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def _timed(function, repeats: int = REPEATS) -> float:
    """Median seconds of ``function()``, after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _excursion_fields() -> dict:
    from django.db import models

    return {
        "channel_id": models.IntegerField(),
        "started_at": models.DateTimeField(),
        "ended_at": models.DateTimeField(null=True),
        "state": models.CharField(max_length=20, default="open"),
        "severity": models.CharField(max_length=10, default="alarm"),
        "low_limit": models.FloatField(null=True),
        "high_limit": models.FloatField(null=True),
        "peak_value": models.FloatField(null=True),
        "peak_at": models.DateTimeField(null=True),
        "degree_minutes": models.FloatField(default=0),
        "mkt": models.FloatField(null=True),
        "cycle": models.PositiveIntegerField(default=1),
        "acknowledged_at": models.DateTimeField(null=True),
        "acknowledged_by_id": models.IntegerField(null=True),
        "comment": models.TextField(blank=True),
        "root_cause": models.TextField(blank=True),
    }


def _account_fields() -> dict:
    from django.db import models

    from vendors.fields import EncryptedJSONField

    return {
        "vendor": models.CharField(max_length=30),
        "name": models.CharField(max_length=100),
        "base_url": models.URLField(blank=True),
        "time_zone": models.CharField(max_length=64, default="UTC"),
        "credentials": EncryptedJSONField(default=dict, blank=True),
        "enabled": models.BooleanField(default=True),
        "last_error": models.CharField(max_length=300, blank=True),
    }


def _model(name: str, fields: dict, triggers=()):
    """A scratch model (app ``benchmarks``, never installed: its table lives in the rolled-back
    transaction only)."""
    from django.db import models

    meta = type("Meta", (), {"app_label": "benchmarks", "db_table": f"bench_{name.lower()}"})
    if triggers:
        meta.triggers = list(triggers)
    return type(name, (models.Model,), {"__module__": __name__, "Meta": meta, **fields})


def _install(model) -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(model)
    for trigger in getattr(model._meta, "triggers", []):
        trigger.install(model)


def _our_context_wrapper():
    """Our per-statement context prefix (``monitoring.audit._with_context``) on or off for this
    connection: the tables with no trail and with pghistory's must not pay for it."""
    from django.db import connection

    from monitoring.audit import _with_context

    def switch(on: bool) -> None:
        if on and _with_context not in connection.execute_wrappers:
            connection.execute_wrappers.append(_with_context)
        if not on and _with_context in connection.execute_wrappers:
            connection.execute_wrappers.remove(_with_context)

    return switch


def _write_costs(models: dict, context) -> dict:
    """ms per 1,000 rows of each workload, for each variant (``context``: the variant's who-and-why)."""
    from django.db import connection

    excursion_base = dict(channel_id=1, started_at=YEAR_START, low_limit=2.0, high_limit=8.0)
    figures = {}
    for variant, model in models.items():
        counter = iter(range(10**9))

        def insert(model=model, counter=counter):
            model.objects.bulk_create(
                [model(**excursion_base, comment=f"note {next(counter)}") for _ in range(ROWS)]
            )

        with context(variant):
            insert_time = _timed(insert)
            ids = list(model.objects.values_list("id", flat=True)[:ROWS])

            def update_one_statement(model=model, ids=ids, counter=counter):
                value = next(counter)
                model.objects.filter(id__in=ids).update(peak_value=value, comment=f"edited {value}")

            def update_row_by_row(model=model, ids=ids, counter=counter):
                value = next(counter)
                for pk in ids:
                    model.objects.filter(pk=pk).update(state="acknowledged", comment=f"ack {value}")

            figures[variant] = {
                "insert": insert_time,
                "update, one statement": _timed(update_one_statement),
                "update, row by row": _timed(update_row_by_row, repeats=max(1, REPEATS // 2)),
            }
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return figures


def _fill_our_trail(users) -> None:
    """``EVENTS`` audit records over a year, 13 record types, ``USERS`` users (ids and names)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO monitoring_auditrecord (at, user_id, username, action, model, object_id,
                                                object_repr, changes, reason)
            SELECT %s::timestamptz + (i * %s::float / %s) * interval '1 second',
                   u.id, u.username, 'update', 'bench.table' || (i %% %s), (i %% 5000)::text,
                   'record ' || (i %% 5000),
                   jsonb_build_object('comment', jsonb_build_array('before ' || i, 'after ' || i),
                                      'peak_value', jsonb_build_array(i %% 13, i %% 17)),
                   ''
            FROM generate_series(1, %s) AS i
            JOIN (SELECT id, username, row_number() OVER (ORDER BY id) - 1 AS n FROM auth_user
                  WHERE id = ANY(%s)) AS u ON u.n = i %% %s
            """,
            [
                YEAR_START,
                365 * 86400,
                EVENTS,
                AUDITED_TABLES,
                EVENTS,
                [user.pk for user in users],
                len(users),
            ],
        )
        cursor.execute("ANALYZE monitoring_auditrecord")


def _fill_pghistory_events(tables: dict, users) -> None:
    """The same events as ``_fill_our_trail`` in pghistory's shape, for each configuration (``tables``:
    its 13 event models): one context per request (four events each) holding the user, the events
    spread over the 13 event tables. Each side gets the indexes a careful deployment would add: the
    event time (the trackers' ``meta``) and the user in the context (in the context table, or with the
    time in each event table when the context is copied into each event)."""
    from django.db import connection

    contexts = EVENTS // 4
    user_of_context = "jsonb_build_object('user', (%(users)s::int[])[1 + (i / 4) %% %(count)s], 'reason', '')"
    arguments = {
        "users": [u.pk for u in users],
        "count": len(users),
        "contexts": contexts,
        "start": YEAR_START,
        "year": 365 * 86400,
        "events": EVENTS,
        "tables": AUDITED_TABLES,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO pghistory_context (id, created_at, updated_at, metadata)
            SELECT md5('bench' || (i / 4))::uuid, t, t, {user_of_context}
            FROM generate_series(0, %(contexts)s - 1) AS c, LATERAL (SELECT c * 4 AS i) AS first_event,
                 LATERAL (SELECT %(start)s::timestamptz + (i * %(year)s::float / %(events)s)
                                 * interval '1 second' AS t) AS m
            """,  # noqa: S608 (our own SQL)
            arguments,
        )
        cursor.execute("CREATE INDEX bench_context_user ON pghistory_context ((metadata -> 'user'))")
        cursor.execute("ANALYZE pghistory_context")
        for variant, event_models in tables.items():
            copied = variant != "pghistory"
            for number, event_model in enumerate(event_models):
                table = event_model._meta.db_table
                cursor.execute(
                    f"""
                    INSERT INTO {table} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id,
                                         {"pgh_context," if copied else ""} id, channel_id, started_at,
                                         state, severity, low_limit, high_limit, peak_value,
                                         degree_minutes, cycle, comment, root_cause)
                    SELECT %(start)s::timestamptz + (i * %(year)s::float / %(events)s) * interval '1 second',
                           'update', i %% 5000, md5('bench' || (i / 4))::uuid,
                           {user_of_context + "," if copied else ""} i %% 5000, 1, %(start)s, 'open',
                           'alarm', 2, 8, i %% 13, 0, 1, 'after ' || i, ''
                    FROM generate_series(1, %(events)s) AS i WHERE i %% %(tables)s = %(number)s
                    """,  # noqa: S608 (our own table names)
                    {**arguments, "number": number},
                )
                if copied:
                    cursor.execute(
                        f"CREATE INDEX {table}_user ON {table} ((pgh_context -> 'user'), pgh_created_at)"
                    )
                cursor.execute(f"ANALYZE {table}")


def _audit_page_query(users, tables: dict) -> dict:
    from django.core.paginator import Paginator

    from monitoring.views.audit import PAGE_SIZE, filtered_records

    user = users[3]
    params = {"user": user.username, "start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()}

    def ours():
        page = Paginator(filtered_records(params), 50).get_page(1)
        return page.paginator.count, list(page.object_list)

    def ours_first_page_only():
        return list(filtered_records(params)[:50])

    figures = {"ours": {"page of 50 with count": _timed(ours), "page of 50": _timed(ours_first_page_only)}}
    figures["ours"]["rows in the period"] = ours()[0]
    assert PAGE_SIZE >= 50
    for variant, event_models in tables.items():
        figures[variant] = _pghistory_page_query(user, event_models, copied=variant != "pghistory")
    return figures


def _pghistory_page_query(user, event_models, copied: bool) -> dict:
    from django.core.paginator import Paginator
    from django.db import connection
    from pghistory.models import Events

    def events():
        return (
            Events.objects.across(*event_models)
            .filter(pgh_context__user=user.pk, pgh_created_at__gte=PERIOD[0], pgh_created_at__lt=PERIOD[1])
            .order_by("-pgh_created_at")
        )

    def page():
        page = Paginator(events(), 50).get_page(1)
        return page.paginator.count, list(page.object_list)

    def first_page_only():
        return list(events()[:50])

    def union_by_hand():
        """pghistory's best case: a hand-written UNION ALL over the event tables (without the old
        values: pghistory keeps snapshots, and the diff needs each event's predecessor, which
        ``Events`` looks up for every event)."""
        joined = "JOIN pghistory_context c ON c.id = e.pgh_context_id WHERE c.metadata"
        user_filter = "WHERE e.pgh_context" if copied else joined
        selects = " UNION ALL ".join(
            f"SELECT e.pgh_id, e.pgh_created_at, e.pgh_obj_id, '{m._meta.label}' AS model"  # noqa: S608
            f" FROM {m._meta.db_table} e {user_filter} -> 'user' = %(user)s::jsonb"
            " AND e.pgh_created_at >= %(start)s AND e.pgh_created_at < %(end)s"
            for m in event_models
        )
        arguments = {"user": str(user.pk), "start": PERIOD[0], "end": PERIOD[1]}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({selects}) AS events", arguments)  # noqa: S608
            count = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT * FROM ({selects}) AS events ORDER BY pgh_created_at DESC LIMIT 50",  # noqa: S608
                arguments,
            )
            return count, cursor.fetchall()

    return {
        "page of 50 with count": _timed(page, repeats=3),
        "page of 50": _timed(first_page_only, repeats=3),
        "rows in the period": page()[0],
        "page of 50 with count, hand-written UNION ALL": _timed(union_by_hand),
    }


def _credential_change(account_models: dict, context) -> dict:
    """What each variant keeps of one credential change (and of nothing else changing)."""
    from django.db import connection

    from monitoring.models import AuditRecord

    secret = "k-very-secret-987"
    kept = {}
    for variant, model in account_models.items():
        with context(variant):
            account = model.objects.create(vendor="thermotrack", name="Lab", credentials={"api_key": "k-1"})
            last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
            account.credentials = {"api_key": secret}
            account.save()
        with connection.cursor() as cursor:
            table = model._meta.db_table
            cursor.execute(f"SELECT credentials FROM {table} WHERE id = %s", [account.pk])  # noqa: S608
            ciphertext = cursor.fetchone()[0]
        if variant == "ours":
            rows = [r.changes for r in AuditRecord.objects.filter(id__gt=last)]
        else:
            # The event rows as stored (through the ORM an encrypted field would be decrypted again).
            rows = []
            for event_model in set(model.pgh_event_models.values()):
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT row_to_json(e)::jsonb FROM {event_model._meta.db_table} e"  # noqa: S608
                        " WHERE pgh_obj_id = %s AND pgh_label <> 'insert'",
                        [account.pk],
                    )
                    rows += [json.loads(row) for (row,) in cursor.fetchall()]
        text = str(rows)
        shown = rows[0] if variant == "ours" else f"events {sorted({r['pgh_label'] for r in rows})}"
        if not rows:
            kept[variant] = "nothing: a credential change alone is not in the trail"
        elif ciphertext in text:
            kept[variant] = f"the new ciphertext, copied into the event table ({shown})"
        elif secret in text:
            kept[variant] = f"the new secret in clear ({shown})"
        else:
            kept[variant] = f"that it changed, not the value ({shown})"
    return kept


def _pghistory_available() -> bool:
    try:
        import pghistory  # noqa: F401
    except ImportError:
        return False
    return True


def run() -> dict:
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.test.utils import modify_settings

    figures: dict = {}
    has_pghistory = _pghistory_available()
    if not has_pghistory:
        figures["pghistory"] = "not installed (pip install -e '.[dev]'): only our side is measured"
    # pghistory's app (its Context model, its Events and the hook that sets up each event model) for
    # this run only: the product does not install it.
    apps_change = modify_settings(INSTALLED_APPS={"append": "pghistory"}) if has_pghistory else nullcontext()
    with apps_change, transaction.atomic():
        users = [User.objects.create_user(f"bench-user-{n}") for n in range(USERS)]
        excursions, accounts, tables = _scratch_models(has_pghistory)
        context = _context_of(users[0])

        writes = _write_costs(excursions, context)
        for variant, costs in writes.items():
            for workload, seconds in costs.items():
                figures[f"a) {workload}: {variant}, ms per 1,000 rows"] = seconds * 1000 * 1000 / ROWS
                if variant != "no trail":
                    ratio = seconds / writes["no trail"][workload]
                    figures[f"a) {workload}: {variant}, overhead ratio"] = ratio

        _fill_our_trail(users)
        if has_pghistory:
            _fill_pghistory_events(tables, users)
        query = _audit_page_query(users, tables)
        for variant, measures in query.items():
            for name, value in measures.items():
                if isinstance(value, float):
                    figures[f"b) {name}: {variant}, median ms"] = value * 1000
                else:
                    figures[f"b) {name}: {variant}"] = value
        for variant in tables:
            ratio = query[variant]["page of 50 with count"] / query["ours"]["page of 50 with count"]
            figures[f"b) page of 50 with count: {variant} / ours"] = ratio
        for variant, kept in _credential_change(accounts, context).items():
            figures[f"c) credential change, {variant}"] = kept
        transaction.set_rollback(True)
    return figures


def _scratch_models(has_pghistory: bool):
    """The scratch tables, created with their triggers: the excursion-like table of each variant (for the
    write costs), the account-like ones (for the credential change), and pghistory's 13 event tables of
    each configuration (for the audit page's query)."""
    from coldchain.audit_triggers import AuditTrigger

    excursions = {
        "no trail": _model("PlainExcursion", _excursion_fields()),
        "ours": _model("OurExcursion", _excursion_fields(), [AuditTrigger(shown="row_data->>'comment'")]),
    }
    accounts = {
        "ours": _model(
            "OurAccount", _account_fields(), [AuditTrigger(secret=["credentials"], ignored=["last_error"])]
        )
    }
    tables: dict = {}
    if has_pghistory:
        import pghistory
        from django.db import connection, models
        from pghistory.models import Context

        with connection.schema_editor() as editor:
            editor.create_model(Context)
        Context.install_pgh_attach_context_func()

        def trackers():  # new ones for each model: a tracker keeps the fields of its first model
            return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())

        def tracked(name, fields, *extra, **options):
            model = _model(name, fields)
            indexed = {"indexes": [models.Index(fields=["pgh_created_at"], name="%(class)s_at")]}
            pghistory.track(*trackers(), *extra, app_label="pghistory", meta=indexed, **options)(model)
            return model

        configurations = {
            "pghistory": ("Pgh", dict),
            "pghistory, context copied into each event": (
                "PghCopied",
                lambda: {"context_field": pghistory.ContextJSONField()},
            ),
        }
        for variant, (prefix, options) in configurations.items():
            tracked_models = [
                tracked(f"{prefix}Table{n}", _excursion_fields(), **options()) for n in range(AUDITED_TABLES)
            ]
            excursions[variant] = tracked_models[0]
            tables[variant] = [_event_model(model) for model in tracked_models]
        accounts["pghistory, every column"] = tracked("PghAccountAll", _account_fields())
        accounts['pghistory, exclude=["credentials"]'] = tracked(
            "PghAccountExcluded", _account_fields(), exclude=["credentials"]
        )
        accounts['pghistory, exclude + a "credentials_changed" event'] = tracked(
            "PghAccountFlagged",
            _account_fields(),
            pghistory.UpdateEvent("credentials_changed", condition=pghistory.AnyChange("credentials")),
            exclude=["credentials"],
        )
    for model in [*excursions.values(), *accounts.values()]:
        if has_pghistory and hasattr(model, "pgh_event_models"):
            _install(_event_model(model))
        _install(model)  # with its triggers (pgtrigger's schema editor installs pghistory's too)
    for event_models in tables.values():
        for event_model in event_models[1:]:
            _install(event_model)
    return excursions, accounts, tables


def _event_model(model):
    (event_model,) = set(model.pgh_event_models.values())
    return event_model


def _context_of(user):
    """The who-and-why of each variant, as the product would pass it."""
    from coldchain.audit_context import audit_context

    switch_our_wrapper = _our_context_wrapper()

    @contextmanager
    def context(variant: str):
        switch_our_wrapper(variant == "ours")
        try:
            if variant == "ours":
                with audit_context(user=user, reason="benchmark"):
                    yield
            elif variant.startswith("pghistory"):
                import pghistory

                with pghistory.context(user=user.pk, reason="benchmark"):
                    yield
            else:
                yield
        finally:
            switch_our_wrapper(True)

    return context
