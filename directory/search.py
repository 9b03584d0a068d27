"""Searching the directory: by skill (declared or learned), online state and free text."""

from __future__ import annotations

from cloudbrain.directory.topics import normalize_topic
from cloudbrain.protocol import AgentInfo


def matches(
    profile: AgentInfo,
    *,
    skill: str | None = None,
    online: bool | None = None,
    text: str | None = None,
) -> bool:
    if online is not None and profile.online != online:
        return False
    skills = [*profile.skills, *(s.topic for s in profile.learned_skills)]
    if skill is not None and normalize_topic(skill) not in map(normalize_topic, skills):
        return False
    if text is not None:
        haystack = " ".join([profile.name, profile.description, *skills]).lower()
        if text.lower() not in haystack:
            return False
    return True
