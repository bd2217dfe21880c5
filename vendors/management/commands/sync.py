"""``manage.py sync``: sync accounts in the foreground, with a progress bar per account and device."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from coldchain.command_line import parse_iso
from vendors.clients.errors import VendorError
from vendors.models import VendorAccount
from vendors.sync import AccountBusy, sync_account


class SyncProgress:
    """A progress bar for the account (devices done) and one for the device being synced (readings).

    Shown only on a terminal (tqdm's ``disable=None``)."""

    def __init__(self, account_name: str, stream):
        self.stream = stream
        self.account_bar = tqdm(desc=account_name, unit=" devices", file=stream, disable=None, position=0)
        self.device_bar = None

    def __call__(self, event: str, device=None, count: int = 0, **info) -> None:
        if event == "devices":
            self.account_bar.total = count
            self.account_bar.refresh()
        elif event == "device":
            self._device_done()
            self.device_bar = tqdm(
                desc=f"  {device.name}",
                unit=" readings",
                file=self.stream,
                disable=None,
                position=1,
                leave=False,
            )
        elif event == "readings" and self.device_bar is not None:
            self.device_bar.update(count)
        elif event == "done":
            self._device_done()

    def _device_done(self) -> None:
        if self.device_bar is not None:
            self.device_bar.close()
            self.device_bar = None
            self.account_bar.update(1)

    def close(self) -> None:
        self._device_done()
        self.account_bar.close()


class Command(BaseCommand):
    help = "Sync vendor accounts now (all enabled accounts, or those named)."

    def add_arguments(self, parser):
        parser.add_argument("--account", action="append", default=[], metavar="NAME")
        parser.add_argument("--since", default="", help="ISO 8601; default: each device's cursor")
        parser.add_argument("--until", default="", help="ISO 8601; default: now")

    def handle(self, *args, account, since, until, **options):
        since_dt = parse_iso(since, "--since") if since else None
        until_dt = parse_iso(until, "--until") if until else None
        if since_dt and until_dt and since_dt >= until_dt:
            raise CommandError("--since must be before --until")
        accounts = VendorAccount.objects.all() if account else VendorAccount.objects.filter(enabled=True)
        if account:
            accounts = accounts.filter(name__in=account)
            unknown = set(account) - set(accounts.values_list("name", flat=True))
            if unknown:
                raise CommandError(f"no account named {', '.join(sorted(unknown))}")
        failed = []
        for acc in accounts:
            progress = SyncProgress(acc.name, self.stderr._out)
            try:
                result = sync_account(acc, since=since_dt, until=until_dt, progress=progress)
            except AccountBusy as exc:
                failed.append(acc.name)
                self.stdout.write(f"{acc.name}: skipped: {exc}")
                continue
            except VendorError as exc:
                failed.append(acc.name)
                self.stdout.write(f"{acc.name}: FAILED: {exc}")
                continue
            finally:
                progress.close()
            status = "ok" if result.ok else "PARTIAL: " + "; ".join(result.errors)
            if not result.ok:
                failed.append(acc.name)
            self.stdout.write(
                f"{acc.name}: {result.devices} devices, {result.readings} new readings, "
                f"{result.positions} new positions, {result.alerts} new alerts, "
                f"{result.gaps} data gaps: {status}"
            )
        if failed:
            raise CommandError(f"{len(failed)} account(s) failed: {', '.join(failed)}")
