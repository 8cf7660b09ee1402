"""Operations tooling: the production-like local stack (`make serve`, `make loadtest`)."""
