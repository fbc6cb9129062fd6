from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import (
            schema,  # noqa: F401  (registers the OpenAPI description of API keys)
            signals,  # noqa: F401  (credential changes revoke tokens)
        )
