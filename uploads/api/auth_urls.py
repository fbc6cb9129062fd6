"""simplejwt's token endpoints in the API's envelope: ``auth/token`` and
``auth/token/refresh``. Include them beside ``uploads.api.urls`` if your clients log in
with JWTs: ``path("api/v1/", include("uploads.api.auth_urls"))``."""

from django.urls import path

from uploads.api import views

app_name = "uploads-auth"

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
]
