from django.apps import AppConfig

# Delivery bookkeeping, changed at every notice: not configuration, left out of the audit trail.
HEALTH_FIELDS = {"last_success_at", "last_failure_at", "last_failure", "consecutive_failures"}


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = "Alarms and notifications"

    def ready(self) -> None:
        # Excursions opened, acknowledged and ended start and stop escalations (alarms/signals.py).
        from alarms import models, signals
        from monitoring import audit

        signals.connect()
        # Who configured what, and why: the same audit trail as rules and accounts.
        for model in [
            models.EscalationPolicy,
            models.EscalationLevel,
            models.OnCallRota,
            models.OnCallShift,
            models.SuppressionWindow,
            models.CalibrationCertificate,
        ]:
            audit.connect_model(model)
        audit.connect_model(models.NotificationChannel, HEALTH_FIELDS)
        audit.connect_model(models.WebhookEndpoint, HEALTH_FIELDS)
