from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# One product name everywhere, the admin included.
admin.site.site_header = "IdeaForge administration"
admin.site.site_title = "IdeaForge admin"
admin.site.index_title = "Administration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="providers:settings", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("providers.urls")),
    path("", include("agents.urls")),
]
