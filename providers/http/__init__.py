"""Outbound HTTP for the providers layer (backends and the AI Gateway client), on httpx.

* `client`: the client factories (bounded timeouts, no redirects, one shared TLS context),
  size-capped reads and JSON requests.
* `errors`: failed responses and transport errors as the typed errors of `providers.exceptions`.
* `netpolicy`: which outbound URLs a user may make us call (checked when a URL is entered or used).
* `transports`: the same policy applied at connect time, to the address each connection goes to.

Import from the module that defines a name; this package re-exports nothing.
"""
