"""docker-compose.yml and the Dockerfile: checked statically (Docker does not run in the test suite).

Every service, variable and command the deployment uses must exist in the project: the settings must
read each variable the compose file sets, and each command must resolve to real code.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_FILE = ROOT / "coldchain" / "settings.py"

# A Celery worker per queue (coldchain/celery.py), each listening on these queues.
WORKER_QUEUES = {
    "worker-sync": {"sync"},
    "worker-evaluation": {"evaluation", "celery"},
    "worker-notifications": {"notifications"},
    "worker-reports": {"reports"},
}
SERVICES = ("postgres", "redis", "web", *WORKER_QUEUES, "beat", "mailpit")
APP_SERVICES = ("web", *WORKER_QUEUES, "beat")
# Variables without which production settings refuse to start, or would talk to the wrong place.
REQUIRED_VARIABLES = (
    "DJANGO_DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SITE_URL",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "CREDENTIALS_KEYS",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "DEFAULT_FROM_EMAIL",
    "TIME_ZONE",
)
# Secrets: compose must refuse to start without them (${NAME:?message}), never fall back to a default.
SECRET_VARIABLES = ("SECRET_KEY", "CREDENTIALS_KEYS")

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """The value compose would use with an empty shell environment (a required variable as <NAME>)."""

    def replace(match: re.Match) -> str:
        op = match["op"] or ""
        if op.endswith("-"):
            return match["arg"]
        if op.endswith("?"):
            return f"<{match['name']}>"
        return ""

    return _INTERPOLATION.sub(replace, value).replace("$$", "$")


def as_list(command) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def container_ports(service: dict) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def option(command: list[str], *names: str) -> str | None:
    """The value of a command-line option given as ``--name value`` or ``--name=value``."""
    for index, part in enumerate(command):
        if part in names and index + 1 < len(command):
            return command[index + 1]
        for name in names:
            if part.startswith(f"{name}="):
                return part.split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def settings_variables() -> set[str]:
    names = set(re.findall(r"\benv(?:bool|int|list)?\(\s*\"([A-Z0-9_]+)\"", SETTINGS_FILE.read_text()))
    assert names, "no env(...) call found in coldchain/settings.py"
    return names


def all_commands(services: dict, dockerfile: str) -> list[list[str]]:
    commands = []
    for service in services.values():
        commands.append(as_list(service.get("entrypoint")))
        commands.append(as_list(service.get("command")))
    for line in re.findall(r"^\s*(?:RUN|CMD|ENTRYPOINT)\s+(.+)$", joined_dockerfile(dockerfile), re.M):
        # Exec form (a JSON list) or shell form.
        commands.append(as_list(yaml.safe_load(line)) if line.startswith("[") else shlex.split(line))
    return [command for command in commands if command]


def manage_py_commands(command) -> list[str]:
    """The management commands a command line runs (``python manage.py NAME``, also inside ``sh -c``)."""
    return re.findall(r"manage\.py\s+([\w-]+)", " ".join(as_list(command)))


def joined_dockerfile(dockerfile: str) -> str:
    """The Dockerfile with continuation lines joined and comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n", " ", "\n".join(lines))


def test_it_defines_every_service(services):
    assert set(SERVICES) <= set(services)


def test_it_builds_web_worker_and_beat_from_the_dockerfile_in_the_repository(services):
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} has no build"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (COMPOSE_FILE.parent / context).resolve() == ROOT, name
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE, name


def test_it_has_a_dockerfile_that_installs_the_project_as_a_non_root_user(dockerfile):
    instructions = joined_dockerfile(dockerfile)
    assert re.search(r"^FROM\s+python:3\.11-slim\b", instructions, re.M)
    assert re.search(r"^RUN\s.*\bpip install\b(?:\s+-\S+)*\s+\.(?:\s|$)", instructions, re.M)
    assert re.search(r"^COPY\s+\.\s+\S+", instructions, re.M), "the project is not copied"
    assert re.search(r"^EXPOSE\s+8000\b", instructions, re.M)
    users = re.findall(r"^USER\s+(\S+)", instructions, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_it_gives_each_app_service_the_database_broker_secrets_and_mail_server(services):
    postgres = environment_of(services["postgres"])
    for name in APP_SERVICES:
        environment = environment_of(services[name])
        database = urlsplit(interpolate(environment["DATABASE_URL"]))
        assert database.scheme in {"postgres", "postgresql"}, name
        assert (database.hostname, database.port) == ("postgres", 5432), name
        assert database.username == interpolate(postgres["POSTGRES_USER"]), name
        assert database.password == interpolate(postgres["POSTGRES_PASSWORD"]), name
        assert database.path.lstrip("/") == interpolate(postgres["POSTGRES_DB"]), name
        broker = urlsplit(interpolate(environment["CELERY_BROKER_URL"]))
        assert (broker.scheme, broker.hostname) == ("redis", "redis"), name
        cache = urlsplit(interpolate(environment["CACHE_URL"]))
        assert (cache.scheme, cache.hostname) == ("redis", "redis"), name
        assert environment["EMAIL_HOST"] == "mailpit", name
        assert environment["EMAIL_PORT"] == "1025", name
        assert environment["DJANGO_DEBUG"] == "0", name
        for secret in SECRET_VARIABLES:
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", environment[secret]), (
                f"{name}: {secret} must be ${{{secret}:?message}} so that compose refuses to start without it"
            )


def test_it_sets_only_variables_the_settings_read(services, settings_variables):
    # env() also reads NAME_FILE (a Docker secret) for any NAME.
    known = settings_variables | {f"{name}_FILE" for name in settings_variables}
    for name in (*APP_SERVICES, "migrate"):
        if name not in services:
            continue
        unknown = set(environment_of(services[name])) - known
        assert not unknown, f"{name} sets variables coldchain/settings.py never reads: {sorted(unknown)}"


def test_it_sets_every_important_variable_the_settings_read(services, settings_variables):
    assert set(REQUIRED_VARIABLES) <= settings_variables, "the settings no longer read one of these"
    for name in APP_SERVICES:
        missing = set(REQUIRED_VARIABLES) - set(environment_of(services[name]))
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_it_shares_one_environment_between_web_worker_and_beat(services):
    environments = [environment_of(services[name]) for name in APP_SERVICES]
    assert all(environment == environments[0] for environment in environments)


@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")  # whitenoise: STATIC_ROOT not collected
def test_it_serves_the_wsgi_application_with_gunicorn_on_port_8000(services):
    command = as_list(services["web"].get("command"))
    assert command[0] == "gunicorn"
    targets = [part for part in command[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", part)]
    assert targets == ["coldchain.wsgi:application"]
    module, attribute = targets[0].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert option(command, "--bind", "-b") == "0.0.0.0:8000"


def test_it_runs_the_celery_workers_and_beat_of_the_project_app(services):
    from celery.app.utils import find_app

    import coldchain.celery

    for name, subcommand in (*((worker, "worker") for worker in WORKER_QUEUES), ("beat", "beat")):
        command = as_list(services[name].get("command"))
        assert command[0] == "celery", name
        assert subcommand in command, name
        assert option(command, "-l", "--loglevel") == "info", name
        app = option(command, "-A", "--app")
        assert app == "coldchain", name
        assert find_app(app) is coldchain.celery.app, name


def test_it_runs_a_worker_per_queue_and_every_task_reaches_a_worker(services):
    from coldchain.celery import QUEUES, app

    app.loader.import_default_modules()
    consumed = {}
    for name, queues in WORKER_QUEUES.items():
        command = as_list(services[name].get("command"))
        listens_on = set((option(command, "-Q", "--queues") or "").split(","))
        assert listens_on == queues, f"{name} listens on {sorted(listens_on)}"
        for queue in listens_on:
            consumed[queue] = name
        assert option(command, "-n", "--hostname"), f"{name}: a node name of its own (two on one host)"
    assert set(consumed) == set(QUEUES), "a queue without a worker, or a worker on an unknown queue"
    for task in app.tasks:
        queue = app.amqp.router.route({}, task)["queue"].name
        assert queue in consumed, f"{task} goes to {queue!r}, on which no worker listens"
    names = [option(as_list(services[name]["command"]), "-n", "--hostname") for name in WORKER_QUEUES]
    assert len(set(names)) == len(names)


def test_it_uses_only_management_commands_that_exist(services, dockerfile):
    from django.core.management import get_commands

    available = get_commands()
    used = [name for command in all_commands(services, dockerfile) for name in manage_py_commands(command)]
    assert {"migrate", "collectstatic"} <= set(used), "migrate and collectstatic must run before start"
    missing = [name for name in used if name not in available]
    assert not missing, f"no such management command: {missing}"


def test_it_migrates_before_web_worker_and_beat_start(services):
    migrations = [
        name for name, service in services.items() if "migrate" in manage_py_commands(service.get("command"))
    ]
    assert migrations, "nothing runs manage.py migrate"
    for name in APP_SERVICES:
        if name in migrations:
            continue
        depends_on = services[name].get("depends_on") or {}
        assert any(
            depends_on.get(migration, {}).get("condition") == "service_completed_successfully"
            for migration in migrations
        ), f"{name} may start before the migrations ran"


def test_it_references_only_script_files_that_exist_and_are_executable(services, dockerfile):
    for command in all_commands(services, dockerfile):
        for part in command:
            if not re.fullmatch(r"(?:\./|/app/)?[\w./-]+\.(?:sh|py)", part):
                continue
            path = ROOT / re.sub(r"^(?:\./|/app/)", "", part)
            assert path.is_file(), f"{part} does not exist"
            if path.suffix == ".sh" or part == command[0]:
                assert os.access(path, os.X_OK), f"{part} is not executable"


def test_it_publishes_the_web_and_mailpit_ports(services):
    assert 8000 in container_ports(services["web"])
    assert {8025, 1025} <= container_ports(services["mailpit"])


def test_it_gives_postgres_and_redis_healthchecks_and_volumes(services):
    assert services["postgres"]["image"].split(":")[1] == "16"
    assert services["redis"]["image"].split(":")[1] == "7"
    assert services["mailpit"]["image"].split(":")[0] == "axllent/mailpit"
    for name in ("postgres", "redis"):
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), name
    volumes = [str(volume) for volume in services["postgres"].get("volumes", [])]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in volumes)


def test_it_starts_the_app_services_only_once_postgres_and_redis_are_healthy(services):
    for name in APP_SERVICES:
        depends_on = services[name].get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency in ("postgres", "redis"):
            assert depends_on.get(dependency, {}).get("condition") == "service_healthy", (name, dependency)
