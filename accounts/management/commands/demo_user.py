from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.demo import LARGE_THRESHOLD, LARGE_TYPE, ensure_large_type, png_bytes
from accounts.tokens import VersionedRefreshToken

WALKTHROUGH = Path(settings.BASE_DIR) / "docs" / "walkthrough.sh"


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo user and print its password, a token and a curl walk-through."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, username: str, base_url: str, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.set_password(password)
        user.is_staff = user.is_superuser = True  # so the demo user can open the admin
        user.save()
        token = VersionedRefreshToken.for_user(user).access_token
        sample = Path(settings.VAR_DIR) / "demo.png"
        sample.parent.mkdir(parents=True, exist_ok=True)
        sample.write_bytes(png_bytes())
        ensure_large_type()

        rule = "-" * 72
        self.stdout.write(
            f"{rule}\n"
            f"Demo user     {username}\n"
            f"Password      {password}   (new on every `make run`)\n"
            f"Admin         {base_url}/admin/\n"
            f"Upload page   {base_url}/demo/   (type '{LARGE_TYPE}': in parts above "
            f"{LARGE_THRESHOLD // 1024**2} MiB)\n"
            f"Profile form  {base_url}/profile/   (the upload widget in a Django form)\n"
            f"API docs      {base_url}/api/docs\n"
            f"Access token  {token}\n"
            f"{rule}\n"
            "Walk-through: paste into another terminal, in this directory\n\n"
            f"export BASE={base_url} TOKEN={token} FILE={sample}\n"
            "bash docs/walkthrough.sh\n\n"
            f"(or step by step: the commands are in {WALKTHROUGH.relative_to(settings.BASE_DIR)})\n"
            f"{rule}\n"
        )
