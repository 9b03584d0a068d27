"""The AI directory: profiles, agent cards, declared and learned skills, specialist selection
and answer aggregation, as plain functions over protocol models (the server does the I/O)."""
