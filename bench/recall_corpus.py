"""Synthetic memories and search queries for ``bench.recall``, made deterministically.

What several agents of one small organisation would remember over two months: deploys,
incidents, owners, schedules, settings, people's preferences and household notes, as notes,
facts and question/answer exchanges. Each memory is a template (about 170 of them) filled from
word lists (services, tools, environments, data stores, people, days, times, numbers...), so
the same words recur across many memories the way an organisation's vocabulary does, and a
query made from the same lists has real matches, usually hundreds of them at 100k memories.

Everything comes from one seeded ``random.Random``: the same seed gives the same memories in
the same order (ids excepted, which are UUIDv7s made when the record is), so the first 10k of a
100k run are the 10k of a 10k run. Timestamps are spread over the ``SPREAD_DAYS`` before an
``anchor`` time that the caller chooses (and passes to search as ``now``).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from datetime import datetime, timedelta

from cloudbrain.memory.records import Kind, MemoryRecord

SPREAD_DAYS = 60

# fmt: off
AGENTS = [
    "atlas", "beacon", "cirrus", "delta", "ember", "fable", "gizmo", "harbor", "iris", "juniper",
    "kestrel", "lumen", "mosaic", "nimbus", "orion", "pixel", "quill", "raven", "sable", "tundra",
]
DEVICES = [
    "laptop", "desktop", "jetson", "raspberry-pi", "phone", "build-server", "nas", "tablet",
]
MODELS = ["llama3.1:8b", "qwen2.5:7b", "mistral:7b", "gemma2:9b", None]

WORDS: dict[str, list[str]] = {
    "service": [
        "billing", "payments", "search", "checkout", "auth", "inventory", "notifications",
        "analytics", "reporting", "gateway", "scheduler", "mailer", "catalog", "recommendations",
        "ledger", "onboarding", "support portal", "media", "geocoder", "pricing", "shipping",
        "invoicing", "identity", "chat", "feed", "uploads", "exports", "audit log", "webhooks",
        "admin console",
    ],
    "tool": [
        "Terraform", "Ansible", "Helm", "Argo CD", "Jenkins", "GitHub Actions", "Buildkite",
        "Docker Compose", "kubectl", "Nomad", "Packer", "Pulumi", "Bazel", "Gradle", "Poetry",
        "Flux", "Spinnaker", "Tekton", "Chef", "SaltStack",
    ],
    "env": [
        "staging", "production", "the sandbox", "the canary cluster", "qa", "the eu region",
        "us-east", "the dev cluster", "the demo environment", "ap-south",
    ],
    "store": [
        "Postgres", "Redis", "Kafka", "Elasticsearch", "ClickHouse", "the S3 bucket", "MongoDB",
        "RabbitMQ", "Memcached", "Cassandra", "MySQL", "etcd", "MinIO", "DynamoDB",
    ],
    "person": [
        "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jia",
        "Kofi", "Lena", "Mateo", "Noor", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tomas",
        "Uma", "Victor", "Wen", "Yusuf", "Zara",
    ],
    "team": [
        "platform", "data", "mobile", "web", "security", "SRE", "growth", "finance", "design",
        "support", "infrastructure", "QA",
    ],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "time": [
        "02:00", "03:30", "06:00", "07:15", "09:00", "10:30", "12:00", "14:00", "16:45",
        "18:00", "21:00", "23:30",
    ],
    "metric": [
        "p99 latency", "error rate", "CPU usage", "memory usage", "queue depth", "disk usage",
        "cache hit rate", "connection count", "GC pauses", "request rate", "replication lag",
    ],
    "lang": ["Python", "Go", "Rust", "TypeScript", "Kotlin", "Java", "Elixir", "Swift", "C++"],
    "city": [
        "Berlin", "Lagos", "Toronto", "Osaka", "Madrid", "Nairobi", "Oslo", "Austin", "Dublin",
        "Seoul", "Lyon", "Porto",
    ],
    "month": [
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ],
    "hobby": [
        "climbing", "chess", "pottery", "cycling", "baking", "swimming", "photography",
        "gardening", "board games", "woodworking", "sailing", "hiking",
    ],
    "food": [
        "ramen", "tacos", "curry", "pizza", "sushi", "falafel", "pho", "dumplings", "paella",
        "burgers", "salads", "pierogi",
    ],
    "relation": ["sister", "brother", "mother", "father", "partner", "cousin", "son", "aunt"],
    "version": ["1.4.2", "2.0.0", "2.3.1", "3.1.0", "0.9.7", "4.2.5", "5.0.1", "1.18.3"],
    "number": ["2", "3", "4", "5", "6", "8", "10", "12", "16", "20", "24", "32", "48", "64"],
    "dom": ["1st", "2nd", "5th", "10th", "15th", "20th", "25th", "28th"],
    "percent": ["5", "10", "15", "20", "25", "40", "50", "75", "80", "90", "95", "99"],
    "duration": [
        "ten minutes", "half an hour", "an hour", "two hours", "a day", "three days", "a week",
        "two weeks",
    ],
    "ticket": [f"{p}-{n}" for p in ("OPS", "BILL", "SEC", "WEB", "DATA") for n in (17, 204, 311, 1042, 2290)],
    "customer": [
        "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
        "Soylent", "Vandelay", "Pied Piper", "Tyrell", "Cyberdyne",
    ],
    "device": [
        "the laptop", "the desktop", "the Jetson", "the Raspberry Pi", "the phone", "the NAS",
        "the tablet", "the build server",
    ],
    "app": [
        "Slack", "the calendar", "Notion", "Jira", "Grafana", "PagerDuty", "Figma", "Linear",
        "Sentry", "Datadog",
    ],
    "adjective": ["slow", "flaky", "broken", "noisy", "stuck", "expensive", "outdated", "fragile"],
}

NOTES = [
    # deploys and releases
    "The {service} deploy uses {tool} and runs from {device}.",
    "Deployed {service} {version} to {env} on {day} at {time}.",
    "{person} rolled back {service} in {env} after the {metric} alert fired.",
    "{service} releases go out every {day}; {person} is the release captain this month.",
    "The {service} pipeline in {tool} takes about {duration} end to end.",
    "Canary for {service} {version} held at {percent} percent of traffic for {duration}.",
    "Hotfix for {ticket} shipped to {env}; {service} needed a restart afterwards.",
    "{tool} plan for {env} showed drift in the {service} load balancer.",
    "The {service} Docker image is built with {tool} and pushed on every merge to main.",
    "Feature branch for {ticket} is blocked until {person} reviews the {service} changes.",
    "{service} {version} is the last release that still supports the old API.",
    "Blue-green switch for {service} in {env} finished in {duration}.",
    # data stores and schedules
    "{store} for {service} lives in {env} and has {number} replicas.",
    "Backups of the {service} {store} run every {day} at {time}.",
    "The {service} {store} is {percent} percent full; {person} opened {ticket} about it.",
    "{store} in {env} was upgraded to {version} by the {team} team.",
    "Vacuum and reindex on the {service} {store} take {duration} and lock writes.",
    "Replication lag on {store} in {env} spiked to {number} seconds on {day}.",
    "The {service} cache in {store} expires keys after {duration}.",
    "Retention for {service} events in {store} is set to {number} days.",
    "Snapshot of the {service} {store} from {day} is kept in {env} for {duration}.",
    "{person} moved the {service} sessions from {store} to {store2}.",
    "Schema change for {service} adds an index on customer id; {person} will apply it on {day}.",
    "The nightly {service} export job writes CSV files to {store} at {time}.",
    # incidents and alerts
    "Incident {ticket}: {service} {metric} went over the threshold in {env} for {duration}.",
    "{service} was {adjective} on {day} because {store} ran out of connections.",
    "Postmortem for {ticket} says the {service} outage started with a bad {tool} change.",
    "The {metric} alert for {service} pages the {team} team after {duration}.",
    "{person} is investigating why {service} is {adjective} in {env}.",
    "Root cause of the {service} outage: a certificate expired on {store}.",
    "{service} error rate dropped to {percent} percent after the retry fix.",
    "Pager for {service} went off {number} times last week, mostly for {metric}.",
    "The {team} team silenced the {metric} alert on {service} until {day}.",
    "Status page was updated by {person} during the {service} incident.",
    "{service} timeouts in {env} came from DNS lookups taking {number} seconds.",
    "Runbook for {service} says to drain {store} before restarting the workers.",
    # ownership and people at work
    "{person} owns the {service} service and the {team} dashboards.",
    "{person} from the {team} team knows the most about {store}.",
    "{person} prefers code reviews in the morning and answers in {app}.",
    "{person} is on call for {service} this week; {person2} is the backup.",
    "{person} joined the {team} team in {month} and works from {city}.",
    "{person} will be out of office from {day} for {duration}.",
    "The {team} team meets every {day} at {time} to plan the sprint.",
    "{person} asked for access to the {service} {store} in {env}.",
    "{person} and {person2} pair on the {service} migration on {day}s.",
    "{person} maintains the {lang} client for {service}.",
    "Ask {person} before touching the {service} {tool} configuration.",
    "{person} wrote the {service} design doc; comments are due by {day}.",
    # configuration and settings
    "{service} reads its configuration from environment variables and {store}.",
    "The {service} worker pool is set to {number} processes in {env}.",
    "Rate limit for the {service} API is {number} requests per second per client.",
    "{service} logs at debug level in {env} and at info level elsewhere.",
    "Timeout for calls from {service} to {service2} is {number} seconds.",
    "The {service} feature flag for the new flow is at {percent} percent.",
    "Secrets for {service} are rotated every {duration} by {tool}.",
    "{service} runs on {number} nodes with {number2} GB of memory each.",
    "Autoscaling for {service} starts at {percent} percent CPU usage.",
    "{service} health checks run every {number} seconds against /healthz.",
    "The {service} cron job runs at {time} on {day}s and sends a report to {app}.",
    "The {service} container memory limit was raised to {number} GB in {env}.",
    # code and tooling
    "{service} is written in {lang} and built with {tool}.",
    "Tests for {service} take {duration} on {device}; {person} wants them faster.",
    "The {lang} linter config for {service} was tightened by {person}.",
    "Dependency update for {service} bumps the {lang} runtime to {version}.",
    "{service} has {number} flaky tests, tracked in {ticket}.",
    "The {service} repository moved to the {team} team's organisation.",
    "Code freeze for {service} starts on {day} before the {month} launch.",
    "{person} proposed rewriting {service} in {lang}.",
    "The {service} SDK for {lang} is published as version {version}.",
    "Local development of {service} needs {tool} and a copy of {store}.",
    "The {tool} module for {service} was split into {number} smaller ones.",
    "Build cache for {service} lives on {device} and saves about {duration} per build.",
    # customers and business
    "{customer} uses {service} heavily and reported it was {adjective} on {day}.",
    "{customer} renewed their contract in {month}; {person} handles the account.",
    "{customer} asked for an export of their {service} data.",
    "The {customer} integration calls our {service} webhooks about {number} times a minute.",
    "{customer} is piloting the new {service} features in {env}.",
    "{person} has a call with {customer} on {day} at {time} about {service}.",
    "Support ticket {ticket} from {customer} is about {service} being {adjective}.",
    "{customer} wants single sign-on through {service} before {month}.",
    "The {customer} demo runs in {env} and must not be restarted on {day}.",
    "Invoices for {customer} are sent by {service} on the {dom} of each month.",
    # meetings and planning
    "Planning for the {month} release is on {day} at {time} in {app}.",
    "Retro notes: {service} deploys felt {adjective}; action item for {person}.",
    "The roadmap puts the {service} redesign in {month}.",
    "{person} shared the {service} metrics review in {app}.",
    "Architecture review of {service} and {service2} is booked for {day}.",
    "Quarterly goals include cutting {service} {metric} by {percent} percent.",
    "Hiring: the {team} team is looking for a {lang} engineer in {city}.",
    "Offsite for the {team} team is in {city} in {month}.",
    "The {team} team budget for {tool} licences was approved in {month}.",
    "Demo day is on {day}; {person} presents the {service} work.",
    # devices and home lab
    "{device} runs the {service} agent and syncs every {duration}.",
    "{device} has {number} GB of RAM and a {number2} core CPU.",
    "The backup script on {device} copies photos to {store} at {time}.",
    "{device} was rebooted on {day} after the kernel update.",
    "Disk on {device} is {percent} percent full.",
    "{device} is on the home network and reachable over the VPN.",
    "The model {model} runs on {device} at about {number} tokens per second.",
    "{device} fan is {adjective}; {person} ordered a replacement in {month}.",
    "Home automation on {device} turns the lights off at {time}.",
    "{device} battery lasts about {duration} with the screen on.",
    # personal notes about the user and family
    "The user likes {food} and usually orders it on {day}s.",
    "The user's {relation} lives in {city} and visits in {month}.",
    "The user goes {hobby} on {day} mornings.",
    "The user's {relation} has a birthday in {month}.",
    "The user started learning {lang} in {month}.",
    "The user wants a reminder about the dentist on {day} at {time}.",
    "The user's favourite {hobby} spot is near {city}.",
    "The user prefers meetings after {time}.",
    "The user is reading a book about {hobby} and {lang}.",
    "The user booked a trip to {city} in {month}.",
    "The user's {relation} recommended a {food} place in {city}.",
    "The user does not drink coffee after {time}.",
    "The user keeps the {hobby} gear in the garage.",
    "The user's {relation} is learning {hobby}.",
    "The user asked to be reminded to call their {relation} on {day}.",
    "The user pays the rent on the {dom} of each month.",
    "The user wants summaries in {app} rather than by email.",
    "The user's {relation} works at {customer} in {city}.",
    # tasks and reminders
    "Reminder: renew the {service} domain before {month}.",
    "TODO: update the {service} runbook after {ticket}.",
    "Follow up with {person} about {ticket} on {day}.",
    "Need to clean up old {service} images in {store}.",
    "Check the {metric} of {service} after the {day} deploy.",
    "Write the {month} report on {service} usage for {customer}.",
    "Order a new {device} charger; the old one is {adjective}.",
    "Ask the {team} team whether {service} can move to {env}.",
    "Migrate the {service} jobs from {tool} to {tool2} by {month}.",
    "Archive the {service} {app} channel once {ticket} is closed.",
]

EXCHANGES = [
    ("Which tool deploys {service}?", "{service} is deployed with {tool} from {device}."),
    ("Who owns {service}?", "{person} owns {service}; the {team} team is the backup."),
    ("When do {service} backups run?", "Every {day} at {time}, into {store}."),
    ("Where does {service} keep its data?", "In {store} in {env}, with {number} replicas."),
    ("Is {service} healthy in {env}?", "Mostly; {metric} is a bit high since {day}."),
    ("What version of {service} is in {env}?", "{env} runs {service} {version}."),
    ("Why was {service} {adjective} yesterday?", "{store} ran out of connections during the {time} batch job."),
    ("Who is on call this week?", "{person} is on call; {person2} is the backup."),
    ("How long does the {service} build take?", "About {duration} with {tool}."),
    ("What language is {service} written in?", "{lang}, built with {tool}."),
    ("Can I restart {service} in {env}?", "Only after draining {store}; ask {person} first."),
    ("What is the rate limit on {service}?", "{number} requests per second per client."),
    ("Did the {service} deploy go out?", "Yes, {version} reached {env} on {day} at {time}."),
    ("What caused {ticket}?", "A bad {tool} change on {service} in {env}."),
    ("How full is the {service} {store}?", "{percent} percent; {person} is looking at it."),
    ("When is the {team} team meeting?", "Every {day} at {time}."),
    ("What does {customer} use?", "{customer} uses {service} and the {service2} webhooks."),
    ("Who handles the {customer} account?", "{person} does, since {month}."),
    ("When is the {month} release planning?", "On {day} at {time} in {app}."),
    ("What alerts fire for {service}?", "{metric} and error rate, paging the {team} team."),
    ("How much memory does {device} have?", "{number} GB, and a {number2} core CPU."),
    ("Which model runs on {device}?", "{model}, at about {number} tokens per second."),
    ("Is {device} backed up?", "Yes, to {store} every night at {time}."),
    ("What food does the user like?", "The user likes {food}, especially on {day}s."),
    ("Where does the user's {relation} live?", "In {city}; they visit in {month}."),
    ("What does the user do on {day} mornings?", "The user goes {hobby}."),
    ("When is the user's {relation}'s birthday?", "In {month}."),
    ("What is the user learning?", "{lang}, since {month}."),
    ("Where is the user travelling next?", "To {city} in {month}."),
    ("How does the user want summaries?", "In {app}, not by email."),
    ("What should I check after the deploy?", "The {metric} of {service} in {env}."),
    ("Who knows {store} best?", "{person} from the {team} team."),
    ("How are {service} secrets rotated?", "By {tool}, every {duration}."),
    ("What is the timeout from {service} to {service2}?", "{number} seconds."),
    ("How many nodes run {service}?", "{number} nodes with {number2} GB each."),
    ("Which flag controls the new {service} flow?", "The {service} flag, at {percent} percent now."),
    ("Where is the {service} design doc?", "{person} shared it in {app}; comments by {day}."),
    ("Is there a code freeze?", "For {service}, from {day} until the {month} launch."),
    ("What did the {service} postmortem find?", "The outage started with a {tool} change; see {ticket}."),
    ("When is {person} back?", "{person} is out for {duration} from {day}."),
]

# What people ask recall: short questions and keyword searches over the same vocabulary.
QUERIES = [
    "which tool deploys {service}",
    "{service} deploy {env}",
    "who owns {service}",
    "when do the {service} backups run",
    "{service} {store} replicas",
    "why was {service} {adjective}",
    "{metric} alert {service}",
    "who is on call for {service}",
    "{service} outage root cause",
    "{store} upgrade {env}",
    "what version of {service} is in {env}",
    "{person} {service}",
    "{customer} contract renewal",
    "{customer} {service} problem",
    "rate limit {service} api",
    "{service} written in {lang}",
    "how long does the {service} build take",
    "{team} team meeting",
    "{device} memory",
    "what food does the user like",
    "user's {relation} birthday",
    "trip to {city}",
    "{month} release planning",
    "{service} feature flag percent",
    "ticket {ticket}",
    "restart {service} {env}",
    "{service} secrets rotation",
    "{tool} configuration {service}",
    "user {hobby}",
    "{service} timeout {service2}",
]

# fmt: on

_FIELD = re.compile(r"{(\w+?)(\d?)}")


def _fill(rng: random.Random, template: str) -> str:
    """``template`` with each field filled; ``{x}`` and ``{x2}`` get different values."""
    values: dict[str, str] = {}
    for name, suffix in dict.fromkeys(_FIELD.findall(template)):  # in order: deterministic
        key = name + suffix
        if name == "model":
            values[key] = rng.choice([m for m in MODELS if m])
            continue
        options = WORDS[name]
        choice = rng.choice(options)
        other = values.get(name) if suffix else values.get(name + "2")
        while other == choice:  # {service} and {service2} differ
            choice = rng.choice(options)
        values[key] = choice
    text = string.Formatter().vformat(template, (), values)
    return text[0].upper() + text[1:]


def memories(seed: int, anchor: datetime) -> Iterator[MemoryRecord]:
    """An endless, deterministic stream of memories made in the ``SPREAD_DAYS`` before
    ``anchor``, spread over the agents, their devices and sessions."""
    rng = random.Random(seed)
    while True:
        yield memory(rng, anchor)


def memory(rng: random.Random, anchor: datetime) -> MemoryRecord:
    ai = rng.choice(AGENTS)
    device = rng.choice(DEVICES)
    created_at = anchor - timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86400))
    importance = round(rng.uniform(0.1, 0.9), 2)
    session = f"{ai}-{device}-{rng.randrange(40)}"
    conversation = f"conv-{rng.randrange(5000)}" if rng.random() < 0.3 else None
    if rng.random() < 0.35:
        question, answer = rng.choice(EXCHANGES)
        # Fill both halves with one set of values: "Who owns billing?" / "Alice owns billing".
        both = _fill(rng, f"{question}\n{answer}")
        user_input, ai_response = both.split("\n", 1)
        return MemoryRecord(
            ai=ai,
            device=device,
            session=session,
            conversation=conversation,
            kind="exchange",
            user_input=user_input,
            ai_response=ai_response[0].upper() + ai_response[1:],
            model_used=rng.choice(MODELS),
            importance=importance,
            created_at=created_at,
        )
    kind: Kind = "fact" if rng.random() < 0.4 else "note"
    return MemoryRecord(
        ai=ai,
        device=device,
        session=session,
        conversation=conversation,
        kind=kind,
        content=_fill(rng, rng.choice(NOTES)),
        importance=importance,
        created_at=created_at,
    )


def queries(seed: int, count: int) -> list[str]:
    """``count`` search queries over the memories' vocabulary."""
    rng = random.Random(seed)
    return [_fill(rng, rng.choice(QUERIES)) for _ in range(count)]
