from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = "Uploads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.signals import request_finished, request_started
        from django.db.models.signals import post_migrate, pre_delete

        # Registers checks and receivers (tasks: the one that enqueues verifications and
        # webhook deliveries; webhooks.events: the ones that record events).
        from uploads import checks, handlers, tasks  # noqa: F401
        from uploads.models import Upload
        from uploads.references import veto_deleting_used_upload
        from uploads.services import presign_function
        from uploads.signals import upload_deleting
        from uploads.signers import deadline
        from uploads.webhooks import events  # noqa: F401

        pre_delete.connect(
            handlers.delete_objects_of_user,
            sender=get_user_model(),
            dispatch_uid="uploads.user_deleted",
        )
        # An upload that an UploadField holds is not deleted (409 upload.invalid_state).
        upload_deleting.connect(
            veto_deleting_used_upload, sender=Upload, dispatch_uid="uploads.veto_deleting"
        )
        # On PostgreSQL, presign's stored function, after every migrate (made from the
        # model as it is, also where a test database is built without migrations).
        post_migrate.connect(
            presign_function.create_after_migrate,
            sender=self,
            dispatch_uid="uploads.presign_function",
        )
        # Every storage call made while a request is served ends within
        # REQUEST_STORAGE_DEADLINE of its start (see uploads.signers.deadline).
        request_started.connect(deadline.request_started, dispatch_uid="uploads.deadline")
        request_finished.connect(deadline.request_finished, dispatch_uid="uploads.deadline")
