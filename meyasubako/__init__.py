"""meyasubako: composition root (settings, domain types, workflow, app factory, CLI)."""

__version__ = "0.1.0"
