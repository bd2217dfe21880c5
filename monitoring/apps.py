from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The audit triggers learn who and why from each writing statement (monitoring/audit.py).
        from django.db.backends.signals import connection_created

        from monitoring import audit

        connection_created.connect(audit.carry_context, dispatch_uid="monitoring-audit-context")
        # The excursion engine after each ingest, the emails about failing accounts.
        from monitoring import receivers

        receivers.connect()
        # Every app's admin is registered by now (admin's autodiscover runs first).
        from coldchain.admin_filters import refuse_bad_filters

        refuse_bad_filters()
        post_migrate.connect(_make_partitions_ahead, sender=self, dispatch_uid="monitoring-partitions")


def _make_partitions_ahead(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """After every migrate: the next months' partitions exist before any reading needs them."""
    if using != DEFAULT_DB_ALIAS:
        return
    from django.db import connection

    from monitoring import partitions
    from monitoring.models import ArchivedMonth

    if ArchivedMonth._meta.db_table in connection.introspection.table_names():
        partitions.ensure_partitions()
