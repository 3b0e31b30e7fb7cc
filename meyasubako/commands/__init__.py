"""CLI command modules; each exposes ``register(subparsers)`` for ``meyasubako/cli.py``."""
