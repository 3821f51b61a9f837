"""Pluggable data sources: one protocol, a registry of factories keyed by kind."""
