"""The REST API; it needs the ``[api]`` extra (uploads.api_extra).

Without it, ``include("uploads.api.urls")`` and ``include("uploads.api.auth_urls")`` get a
URLconf with no paths instead of an ImportError from deep inside Django's URL checks, and
system check uploads.E016 names the extra to install."""

import sys

from uploads.api_extra import missing_api_packages

if missing_api_packages():
    from uploads.api import unavailable

    # The import system returns these entries for the submodules (a parent package may
    # place its submodules in sys.modules while it is imported).
    sys.modules[f"{__name__}.urls"] = unavailable
    sys.modules[f"{__name__}.auth_urls"] = unavailable
