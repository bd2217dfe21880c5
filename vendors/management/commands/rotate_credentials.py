"""``manage.py rotate_credentials``: re-encrypt every stored secret with the first of CREDENTIALS_KEYS.

Rotation: put the new key first in CREDENTIALS_KEYS (keep the old one after it), run this command,
then remove the old key. Every encrypted field of every app is covered (vendor credentials and sessions,
notification channels' URLs, webhook secrets...): found by its type, so no app has to be listed here.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from vendors.fields import EncryptedJSONField, rotate


def encrypted_columns() -> list[tuple[str, list[str]]]:
    """(table, [encrypted columns]) of every model with an encrypted field."""
    found = []
    for model in apps.get_models():
        columns = [f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedJSONField)]
        if columns and not model._meta.proxy:
            found.append((model._meta.db_table, columns))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every stored secret (vendor credentials, channel URLs...) with the newest key."

    def handle(self, *args, **options):
        counts = {}
        with transaction.atomic(), connection.cursor() as cursor:
            for table, columns in encrypted_columns():
                # Our own table and column names, from the models.
                cursor.execute(f"SELECT id, {', '.join(columns)} FROM {table}")  # noqa: S608
                rows = cursor.fetchall()
                assignments = ", ".join(f"{column} = %s" for column in columns)
                for pk, *values in rows:
                    cursor.execute(
                        f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608
                        [rotate(value) if value else "" for value in values] + [pk],
                    )
                counts[table] = len(rows)
        accounts = counts.get("vendors_vendoraccount", 0)
        self.stdout.write(f"Re-encrypted the secrets of {accounts} account(s) with the newest key.")
        others = {table: n for table, n in counts.items() if table != "vendors_vendoraccount" and n}
        for table, n in sorted(others.items()):
            self.stdout.write(f"Re-encrypted {n} row(s) of {table}.")
