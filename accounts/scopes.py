"""The scopes an API key may hold: the uploads app's, and this project's own."""

from uploads.api.permissions import UPLOAD_SCOPES

PROFILE_WRITE = "profile:write"
MEDIA_READ = "media:read"
MEDIA_WRITE = "media:write"

SCOPES = (*UPLOAD_SCOPES, PROFILE_WRITE, MEDIA_READ, MEDIA_WRITE)
