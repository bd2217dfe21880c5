"""The Celery app. Beat only starts work (schedules live in the database, editable in the admin).

Work goes to four queues, so that one kind of work never waits behind another: a burst of reports (PDFs
for every subscriber on a Monday morning) never delays a sync, and a slow vendor never delays an
excursion email. A worker started without ``-Q`` (the demo's, a small installation's) listens on every
queue; a larger installation runs a worker per queue (``-Q sync``), as docker-compose.yml shows, and adds
workers on more machines against the same broker and database (README, "Growing past one machine").
"""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldchain.settings")

SYNC, EVALUATION, NOTIFICATIONS, REPORTS = "sync", "evaluation", "notifications", "reports"
# Celery's own default queue: a task without a route (none of ours has one) and tasks queued before the
# work was split into queues land there. The evaluation workers also listen on it.
DEFAULT_QUEUE = "celery"
QUEUES = (SYNC, EVALUATION, NOTIFICATIONS, REPORTS, DEFAULT_QUEUE)

# Exact names first, then the patterns in this order (Celery's own lookup order).
TASK_ROUTES = {
    "monitoring.tasks.send_excursion_reports": {"queue": REPORTS},
    "monitoring.tasks.build_excursion_report": {"queue": REPORTS},
    "monitoring.tasks.delete_expired_reports": {"queue": REPORTS},
    # Archiving a month runs for up to an hour: long batch work, like the reports, never ahead of an
    # evaluation. Making the next months' partitions is quick upkeep (the evaluation queue, below).
    "monitoring.tasks.archive_month": {"queue": REPORTS},
    "monitoring.tasks.send_excursion_reminders": {"queue": NOTIFICATIONS},  # reminders and escalations
    "monitoring.tasks.notify_accounts": {"queue": NOTIFICATIONS},
    # Device-health checks read the database, like the excursion engine.
    "alarms.tasks.check_device_health": {"queue": EVALUATION},
    # Escalations, back-in-range notices, webhooks: everything of alarm handling waits on other servers.
    "alarms.tasks.*": {"queue": NOTIFICATIONS},
    # The excursion engine's work (no-data excursions) and any other upkeep of the monitoring data.
    "monitoring.tasks.*": {"queue": EVALUATION},
    # The beat's fan-out (sync_due_accounts) and the sync of each account.
    "vendors.tasks.*": {"queue": SYNC},
}

app = Celery("coldchain")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_routes=TASK_ROUTES,
    task_default_queue=DEFAULT_QUEUE,
    # Declared, so that a worker without -Q listens on all of them.
    task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
)
app.autodiscover_tasks()
