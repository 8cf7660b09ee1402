from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="providers:settings", permanent=False), name="home"),
    path("", include("agents.ops_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("providers.urls")),
    path("", include("agents.urls")),
]
