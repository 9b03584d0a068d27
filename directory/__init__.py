"""The AI directory: profiles, agent cards, skills, specialist selection (to come)."""
