"""The ASGI application: production (gunicorn with uvicorn workers, see gunicorn.conf.py) and
development (`make run`: uvicorn --reload) alike.

Django's handler, with two changes that cut what each request waits for:
- the threads it runs requests' sync code on are kept and shared (`ideaforge/asgi_threads.py`,
  `ASGI_SYNC_THREADS`), instead of a new thread (and database connection) per request;
- Django's middleware is loaded as `ideaforge/middleware.py`'s subclasses, whose hooks run on the
  event loop instead of one thread hop each; `settings.MIDDLEWARE` keeps naming Django's classes
  (the deploy checks look for them by path).

Under DEBUG, static files are served here as `runserver` does (`ASGIStaticFilesHandler`); in
production the web server in front (or a CDN) serves STATIC_ROOT.
"""

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application() does first

from ideaforge.asgi_threads import PooledThreadsASGIHandler  # noqa: E402  (needs the apps loaded)
from ideaforge.middleware import loaded_inline  # noqa: E402


class IdeaForgeASGIHandler(PooledThreadsASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        with loaded_inline():
            super().load_middleware(is_async)


application = IdeaForgeASGIHandler(threads=settings.ASGI_SYNC_THREADS)

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
