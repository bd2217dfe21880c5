from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        # After django-axes in INSTALLED_APPS: its login receiver has run when ours asks for the last login.
        from users import logins

        logins.connect_signals()
