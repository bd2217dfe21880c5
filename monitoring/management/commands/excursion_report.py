"""``manage.py excursion_report --start ISO --end ISO [--group NAME] --output report.pdf``

Writes the excursion report as a PDF (or, with an output ending in .csv, the readings inside the excursion
windows), the same as the scheduled email and the Alerts page download."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring import reports
from monitoring.forms import parse_moment
from monitoring.models import DeploymentGroup


class Command(BaseCommand):
    help = "Write the excursion report of a period as a PDF (or a CSV of the readings inside excursions)."

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="ISO date or date-time (UTC if no offset)")
        parser.add_argument("--end", required=True, help="ISO date or date-time (UTC if no offset)")
        parser.add_argument("--group", help="Only this deployment group")
        parser.add_argument("--output", required=True, help="report.pdf, or a path ending in .csv")

    def handle(self, *, start, end, group, output, **_):
        begin, finish = parse_moment(start), parse_moment(end)
        if begin is None or finish is None:
            raise CommandError(
                "--start and --end: expected ISO dates such as 2026-11-01 or 2026-11-01T06:00Z"
            )
        if begin >= finish:
            raise CommandError("--start must be before --end")
        chosen = None
        if group:
            chosen = DeploymentGroup.objects.filter(name=group).first()
            if chosen is None:
                raise CommandError(f"no deployment group named {group!r}")
        report = reports.build_report(begin, finish, chosen)
        path = Path(output)
        data = reports.render_csv(report) if path.suffix.lower() == ".csv" else reports.render_pdf(report)
        path.write_bytes(data)
        self.stdout.write(f"Wrote {path} ({len(report.items)} excursions).")
