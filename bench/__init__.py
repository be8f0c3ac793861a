"""Burst benchmark: the real bot process against the wire-level fakes; see docs/performance.md."""
