"""The uploads API. Mount it under a prefix of your choice, such as
``path("api/v1/", include("uploads.api.urls"))``; it answers only its own paths, so your
views can live beside it under the same prefix. The token endpoints are a separate
include, ``uploads.api.auth_urls``, for projects that log in with simplejwt."""

from django.urls import path

from uploads.api import views

app_name = "uploads-api"

urlpatterns = [
    path("uploads/types", views.UploadTypesView.as_view(), name="types"),
    path("uploads/presign", views.PresignView.as_view(), name="presign"),
    path("uploads", views.UploadListView.as_view(), name="list"),
    path("uploads/<str:upload_id>", views.UploadDetailView.as_view(), name="detail"),
    path("uploads/<str:upload_id>/complete", views.CompleteView.as_view(), name="complete"),
    path("uploads/<str:upload_id>/parts", views.PartsView.as_view(), name="parts"),
    path("uploads/<str:upload_id>/download", views.DownloadView.as_view(), name="download"),
]
