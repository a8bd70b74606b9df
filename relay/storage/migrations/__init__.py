"""Alembic migrations of the relay's database (run by ``relay db upgrade``)."""
