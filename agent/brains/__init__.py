"""Brains turn a question and what the agent remembers into an answer."""

from cloudbrain.agent.brains.base import Answer, Brain
from cloudbrain.agent.brains.recall import RecallBrain

__all__ = ["Answer", "Brain", "RecallBrain"]
