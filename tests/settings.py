"""The project's settings, as tests run them: DEBUG off (pytest-django's default) with the
local signer allowed, and files in a temporary directory."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="uploads-tests-"))

from config.settings import *  # noqa: E402,F403

UPLOADS = {**UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
