"""The project's settings, as tests run them: DEBUG off (pytest-django's default) with the
local signer allowed, and files in a temporary directory."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("JWT_SIGNING_KEY", "tests-only-jwt-signing-key-0123456789abcdefghijkl")
if "VAR_DIR" not in os.environ:
    # Made once, by the first process to import these settings, and removed when it exits;
    # its subprocesses inherit VAR_DIR and so make none of their own.
    _var_dir = tempfile.mkdtemp(prefix="uploads-tests-")
    atexit.register(shutil.rmtree, _var_dir, ignore_errors=True)
    os.environ["VAR_DIR"] = _var_dir

from config.settings import *  # noqa: E402,F403

UPLOADS = {**UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
INSTALLED_APPS = [*INSTALLED_APPS, "tests.hostapp"]  # noqa: F405
# The sweep removes stale temporary files of local PUTs from this directory: a test that
# sweeps "a day from now" must only ever reach its own process's files.
FILE_UPLOAD_TEMP_DIR = tempfile.mkdtemp(prefix="uploads-tests-tmp-")
atexit.register(shutil.rmtree, FILE_UPLOAD_TEMP_DIR, ignore_errors=True)
