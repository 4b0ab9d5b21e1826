"""Limits per user and per key: requests and tokens per minute, concurrent requests,
allowed models and a token budget per day or month (see ``docs/limits.md``)."""
