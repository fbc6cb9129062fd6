from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI description of API keys)
        from accounts.services import veto_deleting_linked_upload
        from uploads.models import Upload
        from uploads.signals import upload_deleting

        # An upload that is an avatar or a media item's is not deleted (409 invalid_state).
        upload_deleting.connect(
            veto_deleting_linked_upload, sender=Upload, dispatch_uid="accounts.veto_deleting"
        )
