from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView


class FaviconView(RedirectView):
    """`/favicon.ico`, which browsers ask for on pages without an icon link (the admin's)."""

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("favicon.svg")


# One product name everywhere, the admin included.
admin.site.site_header = "IdeaForge administration"
admin.site.site_title = "IdeaForge admin"
admin.site.index_title = "Administration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="providers:settings", permanent=False), name="home"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("", include("agents.ops_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("providers.urls")),
    path("", include("agents.urls")),
]
