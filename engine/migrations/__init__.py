"""Alembic migrations of the duban schema, run by ``duban init``."""
