"""The project's settings (config.settings, read from the environment as in production) for
the nodes tests/test_topology.py starts, plus tests.effects, which counts each upload's side
effects in Redis (the ClamAV scan through tests.effects.checks, which counts it)."""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.effects"]  # noqa: F405
UPLOADS["CHECKS"] = {"clamav": "tests.effects.checks.scanned"}  # noqa: F405
