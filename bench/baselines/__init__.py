"""Baseline servers the benchmark compares Trellis with; each is an ASGI ``app`` for uvicorn."""
