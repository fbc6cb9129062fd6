"""Type names shared by the app's modules (for type checkers; nothing here runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # django-stubs' placeholder for the user model: its mypy plugin resolves it to
    # settings.AUTH_USER_MODEL, the model Upload.owner points at, whatever the project's.
    from django.contrib.auth.models import _User as User
else:
    from django.contrib.auth.base_user import AbstractBaseUser as User

__all__ = ["User"]
