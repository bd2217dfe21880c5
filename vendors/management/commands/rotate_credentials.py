"""``manage.py rotate_credentials``: re-encrypt every stored secret with the first of CREDENTIALS_KEYS.

Rotation: put the new key first in CREDENTIALS_KEYS (keep the old one after it), run this command,
then remove the old key.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from vendors.fields import rotate
from vendors.models import VendorAccount


class Command(BaseCommand):
    help = "Re-encrypt vendor credentials and sessions with the newest key."

    def handle(self, *args, **options):
        table = VendorAccount._meta.db_table
        count = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, credentials, session FROM {table}")  # noqa: S608 (our own table name)
            for pk, credentials, session in cursor.fetchall():
                cursor.execute(
                    f"UPDATE {table} SET credentials = %s, session = %s WHERE id = %s",  # noqa: S608
                    [rotate(credentials) if credentials else "", rotate(session) if session else "", pk],
                )
                count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} account(s) with the newest key.")
