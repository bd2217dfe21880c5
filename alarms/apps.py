from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = "Alarms and notifications"

    def ready(self) -> None:
        # Excursions opened, acknowledged and ended start and stop escalations (alarms/signals.py).
        from alarms import signals

        signals.connect()
