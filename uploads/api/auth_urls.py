"""simplejwt's token endpoints in the API's envelope: ``auth/token`` (rate limited per user
name and per address), ``auth/token/refresh`` and, with simplejwt's ``token_blacklist`` app
installed, ``auth/logout``. Include them beside ``uploads.api.urls`` if your clients log in
with JWTs: ``path("api/v1/", include("uploads.api.auth_urls"))``."""

from django.apps import apps
from django.urls import path

from uploads.api import views

app_name = "uploads-auth"

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
] + (
    # Without the blacklist, simplejwt's logout would answer success and revoke nothing.
    [path("auth/logout", views.LogoutView.as_view(), name="logout")]
    if apps.is_installed("rest_framework_simplejwt.token_blacklist")
    else []
)
