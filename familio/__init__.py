"""Familio, the social layer: follows, endorsements, reputation, web view (to come)."""
