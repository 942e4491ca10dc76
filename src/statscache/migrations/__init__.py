"""Alembic migrations of statscache's core tables."""
