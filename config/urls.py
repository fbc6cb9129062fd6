from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views_demo import demo, demo_uppy
from uploads.api.views import unknown_path

urlpatterns = [
    # First: presign and complete, the hot paths, resolve without trying every page before
    # them (no pattern below matches an uploads API path, so the order changes no match).
    path("api/v1/", include("uploads.api.urls")),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("demo/", demo, name="demo"),
    path("demo/uppy/", demo_uppy, name="demo-uppy"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("uploads.api.auth_urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("uploads/", include("uploads.urls")),
    # Anything else under the API answers 404 in the envelope, whatever DEBUG is and
    # whatever the method (CSRF would answer a POST with its HTML page first).
    re_path(r"^api/", csrf_exempt(unknown_path)),
]

handler400 = "uploads.api.errors.json_400"
handler403 = "uploads.api.errors.json_403"
handler404 = "uploads.api.errors.json_404"
handler500 = "uploads.api.errors.json_500"
