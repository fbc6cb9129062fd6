"""The HTTP API. Mount it at ``api/v1/``: ``path("api/v1/", include("uploads.api.urls"))``."""

from django.urls import path, re_path

from uploads.api import views

app_name = "uploads-api"

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("uploads/types", views.UploadTypesView.as_view(), name="types"),
    path("uploads/presign", views.PresignView.as_view(), name="presign"),
    path("uploads", views.UploadListView.as_view(), name="list"),
    path("uploads/<str:upload_id>", views.UploadDetailView.as_view(), name="detail"),
    path("uploads/<str:upload_id>/complete", views.CompleteView.as_view(), name="complete"),
    path("uploads/<str:upload_id>/download", views.DownloadView.as_view(), name="download"),
    # Anything else under the API answers 404 in the envelope, whatever DEBUG is.
    re_path(r"^.*$", views.unknown_path),
]
