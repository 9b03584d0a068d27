"""CloudBrain: a message bus and a long-term memory for AI agents.

This package is the shared kernel (wire protocol, ids, settings, database). The top-level
folders of the repository are its subpackages: ``cloudbrain.server``, ``cloudbrain.agent``,
``cloudbrain.directory``, ``cloudbrain.maildir`` and ``cloudbrain.familio``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudbrain")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
