from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The audit trail listens to saves and deletes of the audited models.
        from monitoring import audit

        audit.connect_signals()

        # Every app's admin is registered by now (admin's autodiscover runs first).
        from coldchain.admin_filters import refuse_bad_filters

        refuse_bad_filters()
