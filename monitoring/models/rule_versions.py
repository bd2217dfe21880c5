"""Alarm rule versions: every change of a rule is kept as a new version (effective from, author, reason and
the rule as it then was), written by PostgreSQL itself after each INSERT or UPDATE of a rule (the trigger on
``AlarmRule``), so no path of change skips one. An excursion refers to the version in force when it was
opened (a trigger on ``Excursion`` sets it at INSERT), and keeps its own copy of the limits it opened under.
Versions are permanent records: UPDATE, DELETE and TRUNCATE are refused, and deleting a rule leaves its
versions (no foreign key constraint in the database).
"""

from __future__ import annotations

import pgtrigger
from django.db import models

from coldchain.audit_triggers import ClosedTrigger
from monitoring.models.permanence import permanent_record_triggers


class AlarmRuleVersion(models.Model):
    rule = models.ForeignKey(
        "monitoring.AlarmRule",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="versions",
    )
    number = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    author_id = models.IntegerField(null=True, blank=True)
    author = models.CharField(max_length=150, help_text='"system" when no user made the change.')
    reason = models.TextField(blank=True)
    # The rule as it was: the figures people read, and the whole row for the rest.
    name = models.CharField(max_length=100)
    low_limit = models.FloatField(null=True, blank=True)
    high_limit = models.FloatField(null=True, blank=True)
    delay_minutes = models.PositiveIntegerField(default=0)
    clear_margin = models.FloatField(default=0.0)
    severity = models.CharField(max_length=10)
    enabled = models.BooleanField(default=True)
    rule_row = models.JSONField(default=dict)

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [models.UniqueConstraint(fields=["rule", "number"], name="unique_rule_version")]
        triggers = permanent_record_triggers()

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


# The trigger on AlarmRule (declared there): a new version after each INSERT, and after each UPDATE that
# changes anything. Who and why come from the audit context (monitoring/audit.py).
NEW_VERSION = """
IF TG_OP = 'UPDATE' AND ROW(OLD.*) IS NOT DISTINCT FROM ROW(NEW.*) THEN
    RETURN NULL;
END IF;
context := COALESCE(NULLIF(current_setting('coldchain.audit_context', true), ''), '{}')::jsonb;
INSERT INTO monitoring_alarmruleversion (rule_id, number, effective_from, author_id, author, reason, name,
    low_limit, high_limit, delay_minutes, clear_margin, severity, enabled, rule_row)
SELECT NEW.id, COALESCE(MAX(v.number), 0) + 1, clock_timestamp(), (context ->> 'user_id')::integer,
    COALESCE(context ->> 'username', 'system'), COALESCE(context ->> 'reason', ''), NEW.name,
    NEW.low_limit, NEW.high_limit, NEW.delay_minutes, NEW.clear_margin, NEW.severity, NEW.enabled,
    to_jsonb(NEW)
FROM monitoring_alarmruleversion v WHERE v.rule_id = NEW.id;
RETURN NULL;
"""


def new_version_trigger() -> pgtrigger.Trigger:
    return ClosedTrigger(
        name="new_version",
        when=pgtrigger.After,
        operation=pgtrigger.Insert | pgtrigger.Update,
        declare=[("context", "jsonb")],
        func=NEW_VERSION,
    )


# The trigger on Excursion: at INSERT, the version of its rule in force now.
VERSION_IN_FORCE = """
IF NEW.rule_id IS NOT NULL AND NEW.rule_version_id IS NULL THEN
    NEW.rule_version_id := (SELECT id FROM monitoring_alarmruleversion WHERE rule_id = NEW.rule_id
                            ORDER BY number DESC LIMIT 1);
END IF;
RETURN NEW;
"""


def version_in_force_trigger() -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name="rule_version_in_force", when=pgtrigger.Before, operation=pgtrigger.Insert, func=VERSION_IN_FORCE
    )
