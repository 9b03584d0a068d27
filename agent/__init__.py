"""The agent side: the client library every agent and CLI command uses to reach a server."""
