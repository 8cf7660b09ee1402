"""What Django's error reports (the e-mails to ADMINS, trackers built on ExceptionReporter) may show.

`sensitive_variables` hides a frame's locals when one of the frame's *callers* was decorated,
found by walking `f_back`. A generator or coroutine frame that has stopped running no longer has
an `f_back`, so the walk cannot see who called it: `httpx.Client.stream()` (a
`contextlib.contextmanager`) under a backend's `list_models` showed its `headers` argument, the
API key in it, in spite of the decorator above. This filter adds Django's own rule for settings
to every frame's locals: a variable, or a dict key at any depth, whose name contains API, AUTH,
TOKEN, KEY, SECRET, PASS or SIGNATURE is replaced by stars (`{"Authorization": "Bearer ..."}`,
`{"x-api-key": ...}`, a form's `client_secret`, a local named `token`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
