"""The database: typed models, the engine factory and migrations. One schema for SQLite
(the embedded default) and PostgreSQL (what deployments and CI use)."""

from cloudbrain.db.engine import TransactionRunner, create_engine, sqlite_url, write_transaction
from cloudbrain.db.migrate import upgrade

__all__ = ["TransactionRunner", "create_engine", "sqlite_url", "upgrade", "write_transaction"]
