"""The local signer's endpoints. Mount them anywhere, e.g.
``path("uploads/", include("uploads.urls"))``."""

from django.urls import path

from uploads import views

app_name = "uploads"

urlpatterns = [
    path("local/put/<str:token>", views.receive_upload, name="local-put"),
    path("local/get/<str:token>", views.download, name="local-get"),
    path("files/<path:key>", views.public_file, name="local-file"),
]
