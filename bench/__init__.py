"""Benchmarks: Trellis against raw Starlette, Strawberry and stock graphql-core (see bench/README.md)."""
