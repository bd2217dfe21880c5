"""The audit trail's trigger declarations now live in ``coldchain.audit_triggers`` (plumbing shared by every
app, vendors included); this name stays for the migrations that refer to it."""

from coldchain.audit_triggers import (  # noqa: F401
    AuditTrigger,
    ClosedTrigger,
    SuperuserMayIgnoreTriggerSql,
    membership_trigger,
)
