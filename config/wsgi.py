import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import the views (DRF, the app) now rather than on the first request, then take every object
# made so far out of the garbage collector's sight: they live as long as the process, and a
# full collection would otherwise walk all of them again (a tenth of a second, every few hundred
# requests).
get_resolver().url_patterns  # noqa: B018
gc.freeze()
