"""The ASGI application: production (gunicorn with uvicorn workers, see gunicorn.conf.py) and
development (`make run`: uvicorn --reload) alike.

Django's handler, with the request threads it runs sync code on kept and shared
(`ideaforge/asgi_threads.py`, `ASGI_SYNC_THREADS`) instead of a new thread per request.

Under DEBUG, static files are served here as `runserver` does (`ASGIStaticFilesHandler`); in
production the web server in front (or a CDN) serves STATIC_ROOT.
"""

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application() does first

from ideaforge.asgi_threads import PooledThreadsASGIHandler  # noqa: E402  (needs the apps loaded)

application = PooledThreadsASGIHandler(threads=settings.ASGI_SYNC_THREADS)

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
