"""The project's settings (config.settings, read from the environment as in production) for
the nodes tests/test_topology.py starts, plus tests.effects, which counts each upload's side
effects in Redis."""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.effects"]  # noqa: F405
