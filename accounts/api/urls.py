"""The users and media API, mounted at ``api/v1/`` beside the uploads API."""

from django.urls import path

from accounts.api import views

app_name = "accounts-api"

urlpatterns = [
    path("users/me", views.MeView.as_view(), name="me"),
    path("users/me/avatar", views.AvatarView.as_view(), name="avatar"),
    path("media", views.MediaListView.as_view(), name="media-list"),
    path("media/<str:item_id>", views.MediaDetailView.as_view(), name="media-detail"),
]
