"""The hub: connections, auth, sessions, presence, routing, durable delivery and acks."""

from cloudbrain.server.app import Server, serve, settle

__all__ = ["Server", "serve", "settle"]
