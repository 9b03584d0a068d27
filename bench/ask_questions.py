"""Questions for ``bench.ask_quality``, asked of the demo family (``cloudbrain demo``'s four
specialists and what they know).

``ON_TOPIC`` pairs a question with the specialist whose stored knowledge answers it, worded as
a person would ask, not in the memory's own terms. ``OFF_TOPIC`` are questions nobody in the
family can answer, many of them sharing a word with a specialist's skill or knowledge ("python"
the snake, "backing up" photos, "bread" that contains "read"), the traps a word match falls
into. Even-numbered questions of each list are the development half the relevance floor was
chosen on; odd-numbered ones are held out.
"""

from __future__ import annotations

ON_TOPIC: list[tuple[str, str]] = [
    ("How do I keep asyncio tasks from disappearing?", "ada"),
    ("My background coroutine vanished before it finished. Why?", "ada"),
    ("How can I run several coroutines and cancel the others if one crashes?", "ada"),
    ("What is inside a .whl file?", "ada"),
    ("How should I isolate each project's Python packages?", "ada"),
    ("A heavy computation freezes my event loop; where should it run?", "ada"),
    ("How do I watch the log of one service live?", "linus"),
    ("Which process is listening on port 8080?", "linus"),
    ("How do I change a unit file without losing it at the next package upgrade?", "linus"),
    ("How do I set up passwordless login to a server?", "linus"),
    ("How do I find out why a database query is slow?", "grace"),
    ("Can readers and a writer use one SQLite file at the same time?", "grace"),
    ("Why is my Postgres table still using so much disk after deleting rows?", "grace"),
    ("How can an index cover only some of a table's rows?", "grace"),
    ("What is the right way to back up and restore a Postgres database?", "grace"),
    ("How do I find a slow PostgreSQL query?", "grace"),
    ("How do I roll back a kubernetes deployment?", "hopper"),
    ("A release went bad; how do I go back to the previous version of the deployment?", "hopper"),
    ("Which base image do containers on a Jetson need?", "hopper"),
    ("What is the difference between liveness and readiness probes?", "hopper"),
    ("How can I check a compose file for mistakes before starting anything?", "hopper"),
    ("What happens when a container's health check keeps failing?", "hopper"),
    ("How do I see what ports are open on this Linux box?", "linus"),
    ("How do I make sure my database backups actually work?", "grace"),
]

OFF_TOPIC: list[str] = [
    "How do I bake banana bread?",
    "What is the best way to back up my holiday photos?",
    "My ball python won't eat. What should I do?",
    "How long should I boil an egg for a soft yolk?",
    "What is a good stretching routine for lower back pain?",
    "How do I remove a red wine stain from a carpet?",
    "Which houseplants survive in a dark room?",
    "How do I teach my dog to stop pulling on the lead?",
    "What should I pack for a week of hiking in Scotland?",
    "How do I get my toddler to sleep through the night?",
    "What is the capital of Australia?",
    "How do I fix a squeaky door hinge?",
    "Who won the football world cup in 2010?",
    "How much water should a cactus get in winter?",
    "What is a good recipe for vegetable soup?",
    "How do I tune a guitar by ear?",
    "How can I improve my chess openings?",
    "What are the symptoms of the flu?",
    "How do I knit a scarf as a beginner?",
    "Which wine goes well with salmon?",
    "How do I change a flat tyre on a bicycle?",
    "What is the best time of year to visit Japan?",
    "How do I write a good cover letter?",
    "Why do cats purr?",
]
