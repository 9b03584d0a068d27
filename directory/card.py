"""Agent cards: an AI's self-description for other programs, in the spirit of the A2A Agent
Card (name, description, version, skills with id/name/description/tags/examples, endpoints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import JsonValue

from cloudbrain.directory.topics import normalize_topic
from cloudbrain.protocol import AgentInfo


def skill_id(topic: str) -> str:
    return normalize_topic(topic).replace(" ", "-")


def agent_card(
    profile: AgentInfo,
    *,
    server_url: str,
    version: str,
    examples: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, JsonValue]:
    """The card of ``profile``. ``examples``: questions it answered, per topic."""
    examples = examples or {}
    skills: list[JsonValue] = []
    declared = [normalize_topic(s) for s in profile.skills]
    learned = {normalize_topic(s.topic): s for s in profile.learned_skills}
    for topic in dict.fromkeys([*declared, *learned]):
        evidence = learned.get(topic)
        kind = "declared" if topic in declared else "learned"
        how = kind
        if evidence is not None:
            how += f"; {evidence.answers} answers, {evidence.up + evidence.accepted} well received"
        skills.append(
            {
                "id": skill_id(topic),
                "name": topic,
                "description": f"{topic} ({how})",
                "tags": list[JsonValue]([topic, kind]),
                "examples": list[JsonValue](examples.get(topic, []))[:3],
            }
        )
    devices: list[JsonValue] = [d.model_dump(exclude_none=True) for d in profile.devices]
    return {
        "name": profile.name,
        "description": profile.description,
        "version": version,
        "url": server_url,
        "protocol": "cloudbrain/1 (JSON over WebSocket; see docs/protocol.md)",
        "endpoints": [
            {"transport": "websocket", "url": server_url, "send": "send", "ask": "ask"},
        ],
        "capabilities": {"streaming": True, "asks": True, "memory": True},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills,
        "online": profile.online,
        "devices": devices,
        "reputation": profile.reputation,
    }
