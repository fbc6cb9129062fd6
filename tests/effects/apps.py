from __future__ import annotations

from django.apps import AppConfig


class EffectsConfig(AppConfig):
    name = "tests.effects"
    label = "topology_effects"

    def ready(self) -> None:
        from tests.effects import receivers  # noqa: F401  connects them
