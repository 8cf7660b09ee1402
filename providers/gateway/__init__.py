"""The AI Gateway: OAuth2 client-credentials tokens and the OpenAI-compatible API.

Import from the modules, which are the package's public API:

* `client`: `GatewayClient(config)` / `AsyncGatewayClient(config)` with `list_models()`,
  `chat_completion(messages, model, **params)`, `stream_chat_completion(messages, model, **params)`;
  `pools`: the connection pools they share (`close_pools()` / `aclose_pools()` at shutdown);
  `streaming`: a chat-completion stream decoded into the items both yield.
* `tokens`: `get_token_manager()` -> `TokenManager` (`get_token`, `aget_token`, `invalidate`,
  `refresh`, `expires_in`); `token_info`: `TokenInfo`, the cache key and the expiry math;
  `token_store`: the tokens shared across processes through Redis; `refresh`: the pre-refresh
  (is a token due, refresh it if so) and which refresh margin applies where.
* `oauth2`: one client-credentials grant; `retry`: `RetryPolicy`, the one retry policy;
  `sse`: server-sent events; `agno_model`: `AIGatewayModel`, the Agno model.

Errors are those of `providers.exceptions` (`StreamError` for a stream that broke mid-way).
The package imports no models, services or database code: the token manager raises, and reports
a rejected stored credential with `tokens.credential_rejected`; `providers.services.tokens`
decides what that means for the credential.
"""
