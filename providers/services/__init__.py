"""Writes: credentials (verify, save, preferences, order, delete), input checking, key rotation."""
