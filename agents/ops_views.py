"""Operations endpoints: liveness, readiness and the Prometheus scrape (docs/operations.md).

Thin: the checks are in `agents.health`, the exposition in `agents.metrics_export`.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from .health import readiness
from .metrics_export import may_scrape, render_metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no database, cache or broker."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every required dependency is up, else 503; the body says which. The
    details (credential keys, token expiry, breakers, error types) only to whoever may scrape
    /metrics: a probe needs the status code, not the platform's inventory."""
    ready, report = readiness(detail=_may_see_details(request))
    return JsonResponse(report, status=200 if ready else 503)


def _may_see_details(request: HttpRequest) -> bool:
    return may_scrape(user=request.user, authorization=request.headers.get("Authorization", ""))


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a staff session or the METRICS_TOKEN bearer; 404 otherwise
    (the endpoint's existence is not advertised)."""
    if not _may_see_details(request):
        raise Http404
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
