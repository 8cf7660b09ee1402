"""The ASGI application: production (gunicorn with uvicorn workers, see gunicorn.conf.py) and
development (`make run`: uvicorn --reload) alike.

Under DEBUG, static files are served here as `runserver` does (`ASGIStaticFilesHandler`); in
production the web server in front (or a CDN) serves STATIC_ROOT.
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")
application = get_asgi_application()

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
