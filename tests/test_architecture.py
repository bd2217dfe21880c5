"""Data flows one way: vendor client -> sync -> ingest -> excursions -> notifications (DESIGN.md).

The imports are read from the source with ``ast`` (every ``import`` and ``from ... import``, at the top
of a module or inside a function), so a lazy import inside a function counts as much as any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What the vendors app may take from monitoring: the door into our tables, the tables, their choices. (The
# audit trail's plumbing, trigger declarations and the who-and-why context, is the project's: coldchain/.)
VENDORS_MAY_IMPORT = {"monitoring.ingest", "monitoring.models", "monitoring.choices"}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, as dotted names (``from a.b import c`` gives ``a.b`` and ``a.b.c``:
    ``c`` may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def allowed(name: str, prefixes: set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_nothing_in_vendors_imports_monitoring_beyond_ingest_models_and_choices():
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in python_files("vendors")
        for name in imports_of(path)
        if (name == "monitoring" or name.startswith("monitoring."))
        and not allowed(name, VENDORS_MAY_IMPORT)
        # ``from monitoring.models import Device`` names a class of an allowed module: fine.
        and not any(name.startswith(prefix + ".") for prefix in VENDORS_MAY_IMPORT)
    }
    assert not wrong, "vendors/ reaches up into monitoring: " + ", ".join(sorted(wrong))


def test_the_sync_takes_only_the_ingest_from_monitoring():
    names = {n for n in imports_of(ROOT / "vendors" / "sync.py") if n.startswith("monitoring")}
    assert names and all(allowed(n, {"monitoring.ingest"}) for n in names), names


def test_vendors_never_import_the_excursion_engine_notifications_reports_or_pages():
    above = {
        "monitoring.excursions",
        "monitoring.excursion_actions",
        "monitoring.notifications",
        "monitoring.reports",
        "monitoring.report_files",
        "monitoring.views",
        "monitoring.selectors",
        "monitoring.receivers",
    }
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in python_files("vendors")
        for name in imports_of(path)
        if allowed(name, above)
    }
    assert not wrong, ", ".join(sorted(wrong))


def test_the_ingest_never_imports_the_excursion_engine_or_notifications():
    # The ingest commits readings and sends ``readings_stored``; who evaluates them is not its business.
    names = imports_of(ROOT / "monitoring" / "ingest.py")
    assert not any(allowed(n, {"monitoring.excursions", "monitoring.notifications"}) for n in names)


def test_no_app_imports_a_management_command_of_another():
    apps = ("monitoring", "vendors", "users", "coldchain")
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for app in apps
        for path in python_files(app)
        for name in imports_of(path)
        if name.startswith(tuple(f"{other}.management" for other in apps if other != app))
    }
    assert not wrong, ", ".join(sorted(wrong))


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from monitoring.excursions import evaluate_channels\n")
    assert "monitoring.excursions" in imports_of(sample)
