"""``manage.py export_positions``: GPS positions as CSV."""

from monitoring.exports import POSITION_COLUMNS, position_rows
from monitoring.management.commands.export_readings import ExportCommand


class Command(ExportCommand):
    help = "Export positions as CSV: " + ",".join(POSITION_COLUMNS)
    columns = POSITION_COLUMNS
    table = "monitoring_position"
    what = "positions"
    command_name = "export_positions"

    def rows(self, **filters):
        return position_rows(**filters)
