"""Model tiers: the kinds of model an agent can ask for, cheapest first.

A credential stores one model per tier (`ProviderCredential.<tier>_model`); a backend has a
default per tier (`BaseBackend.default_tier_models`). Kept apart from `models.py` so that backends
can name tiers without importing the ORM.
"""

from __future__ import annotations

TIERS: tuple[str, ...] = ("fast", "standard", "premium")
