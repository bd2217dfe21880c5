"""What the sync tells whoever listens (monitoring emails the administrators): the vendors app never
calls notifications itself, so data and calls flow one way."""

from django.dispatch import Signal

# The vendor refused the account's credentials: it is marked ``needs_attention`` and no longer synced.
# Sent with ``account``.
account_needs_attention = Signal()

# A sync failed with an unexpected error (a bug in a parser, data the database refused), recorded on the
# account and retried like a vendor error; a person may be needed. Sent with ``account``.
account_sync_failed = Signal()
