from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views_demo import demo

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("demo/", demo, name="demo"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Before the uploads API, whose last pattern answers 404 for anything under api/v1/.
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("uploads.api.urls")),
    path("uploads/", include("uploads.urls")),
]

handler400 = "uploads.api.errors.json_400"
handler403 = "uploads.api.errors.json_403"
handler404 = "uploads.api.errors.json_404"
handler500 = "uploads.api.errors.json_500"
