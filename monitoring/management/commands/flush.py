"""Django's ``flush``, which the permanent records refuse (TRUNCATE) except on a test database.

Django's transactional tests end with a flush of the test database (``test_<name>``); there, and only
there, the TRUNCATE refusals of readings, positions, audit records and signatures step aside
(``pgtrigger.ignore``). On any other database the flush fails on them, as it should: GxP records are
not emptied by a command.
"""

from __future__ import annotations

import pgtrigger
from django.core.management.commands import flush
from django.db import connections

from monitoring.models.permanence import REFUSE_TRUNCATE


class Command(flush.Command):
    def handle(self, **options):
        database = options.get("database") or "default"
        if not connections[database].settings_dict["NAME"].startswith("test_"):
            return super().handle(**options)
        refusals = [
            trigger.get_uri(model)
            for model, trigger in pgtrigger.registered()
            if trigger.name == REFUSE_TRUNCATE
        ]
        with pgtrigger.ignore(*refusals, databases=[database]):
            return super().handle(**options)
