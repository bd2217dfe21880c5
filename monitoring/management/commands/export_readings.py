"""``manage.py export_readings``: readings as CSV (the columns other tools depend on)."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from coldchain.command_line import parse_iso
from monitoring import archive
from monitoring.audit import record_export
from monitoring.csv_cells import SafeCsvWriter
from monitoring.exports import READING_COLUMNS, reading_rows


class ExportCommand(BaseCommand):
    columns: list[str] = []
    what = "readings"
    command_name = "export_readings"
    table = "monitoring_reading"  # whose archived months (monitoring/archive.py) the export must mention

    def add_arguments(self, parser):
        parser.add_argument("--account", default="", metavar="NAME")
        parser.add_argument("--device", default="", metavar="ID", help="the vendor's own device id")
        parser.add_argument("--start", default="", help="ISO 8601")
        parser.add_argument("--end", default="", help="ISO 8601")
        parser.add_argument("--output", default="-", help="a file path, or - for standard output")

    def rows(self, **filters):
        raise NotImplementedError

    def handle(self, *args, account, device, start, end, output, **options):
        start_dt = parse_iso(start, "--start") if start else None
        end_dt = parse_iso(end, "--end") if end else None
        if start_dt and end_dt and start_dt > end_dt:
            raise CommandError("--start must not be after --end")
        archived = archive.archives_between(self.table, start_dt, end_dt)
        if archived and start_dt:
            raise CommandError(archive.refusal(archived))
        if archived:
            # No --start: "everything there is", which no longer holds the archived months; the CSV stays
            # plain CSV (tools read it), the note goes to the terminal.
            self.stderr.write(f"Note: {archive.describe(archived)}; they are not in this export.")
        record_export(
            None,
            self.what,
            start=start_dt,
            end=end_dt,
            details=f"manage.py {self.command_name} as {getpass.getuser()}; account {account or 'any'}, "
            f"device {device or 'any'}",
        )
        stream = self.stdout if output == "-" else open(output, "w", newline="", encoding="utf-8")  # noqa: SIM115
        try:
            writer = SafeCsvWriter(stream, lineterminator="\n")
            writer.writerow(self.columns)
            for row in self.rows(account=account, device=device, start=start_dt, end=end_dt):
                writer.writerow(row)
        finally:
            if stream is not self.stdout:
                stream.close()


class Command(ExportCommand):
    help = "Export readings as CSV: " + ",".join(READING_COLUMNS)
    columns = READING_COLUMNS

    def rows(self, **filters):
        return reading_rows(**filters)
