"""Trellis application layer: settings, schema loading, HTTP transport, CLI."""
