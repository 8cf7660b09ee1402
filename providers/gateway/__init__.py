"""The AI Gateway client: OAuth2 client-credentials tokens and the OpenAI-compatible API.

Public API:

* `GatewayClient(config)` / `AsyncGatewayClient(config)`: `list_models()`,
  `chat_completion(messages, model, **params)`, `stream_chat_completion(messages, model, **params)`.
* `get_token_manager()` -> `TokenManager`: `get_token`, `aget_token`, `invalidate`, `refresh`,
  `expires_in`; `TokenInfo`.
* `RetryPolicy`, the one retry policy; `close_pools()` / `aclose_pools()` for shutdown.

Errors are those of `providers.exceptions` (`StreamError` for a stream that broke mid-way).
"""
from __future__ import annotations

from .client import AsyncGatewayClient, GatewayClient, aclose_pools, close_pools
from .retry import RetryPolicy
from .tokens import TokenInfo, TokenManager, get_token_manager

__all__ = [
    "AsyncGatewayClient",
    "GatewayClient",
    "RetryPolicy",
    "TokenInfo",
    "TokenManager",
    "aclose_pools",
    "close_pools",
    "get_token_manager",
]
