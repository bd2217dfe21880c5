from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = "Alarms and notifications"

    def ready(self) -> None:
        # Excursions opened, acknowledged and ended start and stop escalations (alarms/signals.py). Who
        # configured what is in the audit trail through the models' database triggers (alarms/models.py).
        from alarms import signals

        signals.connect()
