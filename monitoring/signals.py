"""What the ingest tells the rest of monitoring, without knowing who listens (data flows one way)."""

from django.dispatch import Signal

# Sent by ``ingest_readings`` once its transaction is over, with ``channel_ids``: the channels that got
# new readings. The excursion engine evaluates them at once (``monitoring.receivers``); should that never
# happen (the process dies first), the readings are still ahead of their channel's watermark and the
# beat's ``evaluate_readings`` evaluates them within a minute.
readings_stored = Signal()
