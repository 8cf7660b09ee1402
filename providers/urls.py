from django.urls import path
from django.views.generic import TemplateView

app_name = "providers"

urlpatterns = [
    path("settings/providers/", TemplateView.as_view(template_name="base.html"), name="settings"),
]
