"""Loaded by pytest (`-p ideaforge.pytest_env`) before Django's settings are imported.

Tests run on the embedded default: SQLite, local-memory cache, development encryption key,
loopback URLs allowed (the local provider simulators live on 127.0.0.1). Production-mode
behaviour is tested by overriding settings in the tests that need it.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("AGNO_TELEMETRY", "false")
