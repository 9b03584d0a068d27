"""Hand-written (fact, question) pairs for the recall-quality half of ``bench.recall``.

Each question asks for its fact in other words: synonyms and descriptions instead of the fact's
own terms ("pre-production reload" for "staging restore", "remote-access credentials" for "VPN
certificates"), the way a person asks weeks after the fact was stored. A question may keep the
name the fact is about (a person, a customer), as people do; many share no word with their
fact at all, which only a semantic embedder can bridge. ``bench.recall`` reports recall for the
two groups apart.

The facts are stored among synthetic distractors (``bench.recall_corpus``) from the same
domain, and some of those are lexical traps on purpose (the question's words, another topic).
No distractor states a fact's answer in other words: every question has one right memory.
"""

from __future__ import annotations

PAIRS: list[tuple[str, str]] = [
    (
        "The staging database is restored every night at 02:00.",
        "When does staging get its nightly restore?",
    ),
    (
        "Priya is allergic to peanuts, so the team orders lunch from places without nuts.",
        "Which food should we avoid when getting a meal for Priya?",
    ),
    (
        "The on-call rotation hands over every Tuesday at 10:00 Berlin time.",
        "What day does pager duty switch to the next person?",
    ),
    (
        "Our VPN certificates expire on the first of March and must be renewed by the security team.",
        "When do the remote-access credentials run out?",
    ),
    (
        "The user's daughter Mia plays violin and has lessons on Thursday afternoons.",
        "When does Mia have her music class?",
    ),
    (
        "The workstation in the basement has two RTX 3090 cards for training models.",
        "Which GPUs are in the computer downstairs?",
    ),
    (
        "Expense reports must be submitted within 30 days of the purchase.",
        "What is the deadline for filing reimbursement claims?",
    ),
    (
        "The user prefers dark roast coffee with oat milk and no sugar.",
        "How does the user take their morning brew?",
    ),
    (
        "The mobile app's minimum supported Android version is 10.",
        "What is the oldest phone OS release our app still runs on?",
    ),
    (
        "Log files older than 30 days are deleted automatically from the central log cluster.",
        "How long do we keep logs before they are purged?",
    ),
    (
        "The Kubernetes cluster autoscaler never scales the worker pool above 40 nodes.",
        "What is the maximum number of machines the container platform can grow to?",
    ),
    (
        "Ingrid is on parental leave until the end of September.",
        "When will Ingrid return to the office?",
    ),
    (
        "The company's fiscal year starts on the first of April.",
        "In which month does our financial year begin?",
    ),
    (
        "The user's flight to Lisbon departs on 14 June at 07:45 from Terminal 2.",
        "What time is the plane to Portugal leaving?",
    ),
    (
        "Password resets require a code sent to the user's registered phone number.",
        "How does someone recover their account when they forget their login secret?",
    ),
    (
        "The marketing site is hosted on Netlify, not on our own servers.",
        "Where does the promotional website live?",
    ),
    (
        "Chen wrote the original rate limiter in Go back in 2021.",
        "Who is the author of the throttling component?",
    ),
    (
        "The Wi-Fi password for the office guest network is written on the whiteboard in the kitchen.",
        "Where can visitors find the wireless key?",
    ),
    (
        "Database migrations must be reviewed by two engineers before they are merged.",
        "How many approvals does a schema change need?",
    ),
    (
        "The user runs a 10 km race every Sunday morning along the river.",
        "What distance does the user jog on weekends?",
    ),
    (
        "Our error budget for the checkout API is 0.1 percent of requests per month.",
        "How many failed purchase calls are we allowed each month?",
    ),
    (
        "The customer support team works from 08:00 to 20:00 on weekdays.",
        "What are the helpdesk opening hours?",
    ),
    (
        "Dana's dog is called Pepper and is a border collie.",
        "What is the name of Dana's pet?",
    ),
    (
        "The Jetson in the garage runs the license plate camera model.",
        "Which device handles the car number recognition?",
    ),
    (
        "Quarterly business reviews with the board happen in the second week of January, April, "
        "July and October.",
        "When do we present results to the directors?",
    ),
    (
        "The TLS certificates are renewed automatically by cert-manager thirty days before expiry.",
        "Who takes care of refreshing our HTTPS certs?",
    ),
    (
        "The user is vegetarian but eats fish occasionally.",
        "Does the user eat meat?",
    ),
    (
        "The analytics warehouse is refreshed from production every six hours.",
        "How often does the reporting data get updated?",
    ),
    (
        "New hires get a laptop shipped to their home a week before their start date.",
        "How do new employees receive their computer?",
    ),
    (
        "The grandparents are visiting from Kraków over the Christmas holidays.",
        "Where will grandma and grandpa be flying in from at the end of the year?",
    ),
    (
        "Feature flags are managed in LaunchDarkly and cleaned up after every release.",
        "Which tool do we use to toggle functionality on and off?",
    ),
    (
        "The payments provider charges a fee of 1.4 percent plus 25 cents per transaction.",
        "How much does it cost us to process a card purchase?",
    ),
    (
        "The user's car is due for its annual inspection in November.",
        "When does the vehicle need its yearly check?",
    ),
    (
        "Backups of the file server are copied to a bucket in another region every night.",
        "Is there an offsite copy of the shared drive?",
    ),
    (
        "Lena leads the design team and approves all changes to the brand colours.",
        "Who signs off on updates to our visual identity palette?",
    ),
    (
        "The search index is rebuilt from scratch whenever the product catalogue schema changes.",
        "What triggers a full reindex?",
    ),
    (
        "The user wakes up at 06:00 and does not want notifications before 07:30.",
        "Until what time in the morning should alerts stay silent?",
    ),
    (
        "The smart thermostat keeps the house at 20 degrees in winter.",
        "What temperature is the heating set to?",
    ),
    (
        "Customer data from EU users must stay in the Frankfurt region.",
        "Where are we required to store European clients' personal information?",
    ),
    (
        "The release train leaves every second Wednesday; anything merged after noon waits for "
        "the next one.",
        "What happens to code that lands after midday on release day?",
    ),
    (
        "Sven has admin rights on the DNS provider account.",
        "Who can change our domain records?",
    ),
    (
        "The office closes for two weeks in August.",
        "When is the summer shutdown?",
    ),
    (
        "The user's passport expires in May 2027.",
        "When does the travel document need renewing?",
    ),
    (
        "Messages that fail three times end up in a dead-letter queue that the on-call engineer "
        "empties by hand.",
        "What happens to events that keep failing to process?",
    ),
    (
        "The user plays guitar in a band that rehearses on Friday evenings.",
        "Which night is music practice?",
    ),
    (
        "Load tests run against the performance environment, never against production.",
        "Where should we do stress testing?",
    ),
    (
        "The API gateway rejects request bodies larger than 10 MB.",
        "What is the upload size limit?",
    ),
    (
        "Zara manages the relationship with our biggest customer, Northwind.",
        "Who is the account owner for Northwind?",
    ),
    (
        "The grocery delivery comes every Saturday between 9 and 11.",
        "When do the groceries arrive?",
    ),
    (
        "Solar panels on the roof produce about 4,000 kWh a year.",
        "How much electricity does the rooftop array generate annually?",
    ),
    (
        "The legacy reporting job still runs on a Windows VM that nobody is allowed to reboot.",
        "Which old machine must never be restarted?",
    ),
    (
        "Two-factor authentication is mandatory for every GitHub account in the organisation.",
        "Is MFA required on our code hosting accounts?",
    ),
    (
        "The user's sourdough starter needs feeding every twelve hours.",
        "How often must the bread culture be fed?",
    ),
    (
        "Our Slack workspace deletes direct messages after 90 days.",
        "How long do private chats stick around in the team messenger?",
    ),
    (
        "The printer on the second floor only works from the wired network.",
        "Why can't I print over Wi-Fi upstairs?",
    ),
]
