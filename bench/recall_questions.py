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

The split is fixed. ``DEV_PAIRS`` (indices 0 to 54 of ``PAIRS``) are the questions recall was
developed and tuned against; ``HELD_OUT_PAIRS`` (indices 55 to 109, the set ``HELD_OUT``) were
written afterwards and are never used for tuning: look at their scores, never at which of them
are missed, and do not change recall, an embedder or its settings to find one of them. Each
half has as many pairs as the other, and ``bench.recall`` reports both (and all together).
A new pair goes to the end of one of the two lists, and a pair in ``HELD_OUT_PAIRS`` that was
looked at while tuning moves to ``DEV_PAIRS`` (with a new held-out pair in its place), so that
the halves stay equal and the held-out one unseen.
"""

from __future__ import annotations

DEV_PAIRS: list[tuple[str, str]] = [
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

HELD_OUT_PAIRS: list[tuple[str, str]] = [
    # operations
    (
        "SSH into the production bastion hosts is only allowed from the office IP range.",
        "Can I reach the jump boxes for the live servers from home?",
    ),
    (
        "Container images are scanned for vulnerabilities by Trivy before they are pushed to the "
        "registry.",
        "Which scanner checks our Docker builds for security holes?",
    ),
    (
        "If the main data centre goes down, the primary database fails over to the replica in "
        "Amsterdam.",
        "Where does our data store switch to during a disaster?",
    ),
    (
        "DNS records are set with a TTL of five minutes so that cutovers propagate quickly.",
        "How long do name lookups stay cached?",
    ),
    (
        "The Terraform state lives in an S3 bucket with versioning and a DynamoDB lock table.",
        "Where does our infrastructure-as-code keep track of what it created?",
    ),
    (
        "Only critical Prometheus alerts page a person; everything else goes to the #ops-alerts "
        "channel.",
        "Which warnings actually wake an engineer up at night?",
    ),
    (
        "Kubernetes secrets are encrypted at rest with a key held in the cloud KMS.",
        "How are the cluster's stored passwords protected on disk?",
    ),
    (
        "PgBouncer caps the Postgres connection pool at 200 clients.",
        "What is the most clients the database proxy will accept?",
    ),
    (
        "Release builds are signed with a key on a YubiKey kept in the office safe.",
        "Where is the hardware token we sign our releases with?",
    ),
    (
        "Sentry drops events once we go over 50,000 errors a day on our plan.",
        "What is the daily cap on crash reports in our error tracker?",
    ),
    (
        "The CDN caches static assets for a year, because their filenames carry a content hash.",
        "How long do browsers and edge servers keep our JavaScript and images?",
    ),
    # home and family
    (
        "The spare house key is hidden under the blue flowerpot by the back door.",
        "If I'm locked out, where can I find a way to get in?",
    ),
    (
        "The kids' school day ends at 15:15.",
        "What time do the children get out of class?",
    ),
    (
        "The boiler was serviced in October by Hendrik's plumbing company.",
        "Which firm looked after the furnace last autumn?",
    ),
    (
        "The user's son Leo is allergic to cats.",
        "Which animal makes Leo sneeze?",
    ),
    (
        "The bins go out on Wednesday night; recycling is collected every other week.",
        "Which evening do we put the rubbish out?",
    ),
    (
        "The family's dentist is Dr. Okafor on Linden Street.",
        "Who looks after our teeth, and where is the practice?",
    ),
    (
        "The main water shut-off valve is in the cellar behind the washing machine.",
        "A pipe burst: where do I turn off the supply?",
    ),
    (
        "Grandma Elsa's birthday dinner is always at the Greek restaurant on Hafenstrasse.",
        "Where do we take Elsa to eat when she turns a year older?",
    ),
    # preferences
    (
        "The user hates phone calls and prefers to be contacted by text message.",
        "Should I ring the user or write to them?",
    ),
    (
        "The user's favourite author is Ursula K. Le Guin.",
        "Which novelist does the user like most?",
    ),
    (
        "The user listens to jazz while working and finds songs with lyrics distracting.",
        "What kind of music helps the user focus?",
    ),
    (
        "The user always picks the aisle seat on flights because of their long legs.",
        "Window or corridor: where does the user like to sit on a plane?",
    ),
    (
        "The user's favourite colour is forest green.",
        "What shade would the user pick for a new bike?",
    ),
    # projects
    (
        "Project Heron rewrites the customer mobile app in Flutter and is due at the end of the "
        "third quarter.",
        "Which framework is the new phone application being rebuilt with?",
    ),
    (
        "The internal wiki moved from Confluence to Notion last year.",
        "Where did our team documentation go after we left the Atlassian tool?",
    ),
    (
        "Last year's hackathon was won by Sherpa, an AI assistant for the support team.",
        "What was the winning entry at the last internal coding competition?",
    ),
    (
        "Our SDKs are published under the Apache 2.0 license.",
        "Under which terms may others reuse our client libraries?",
    ),
    (
        "Project Kite, the browser extension for saving articles, was cancelled in May because too "
        "few people used it.",
        "Why did we drop the plug-in for bookmarking web pages?",
    ),
    (
        "The v1 endpoints of the public API will be switched off on 30 June next year.",
        "When is the old version of our developer interface being retired?",
    ),
    # people
    (
        "Tomasz from legal must review every contract that includes a data processing agreement.",
        "Whose approval do we need for customer agreements with GDPR clauses?",
    ),
    (
        "Emeka speaks fluent Portuguese and helps with our Brazilian customers.",
        "Who can talk to clients from Brazil in their own language?",
    ),
    (
        "Hana's birthday is on 3 March and she loves chocolate cake.",
        "When should we celebrate Hana getting a year older?",
    ),
    (
        "Marcus joined as the new CFO in February.",
        "Who is in charge of the company's money now?",
    ),
    (
        "Olga mentors the junior engineers on the platform team.",
        "Who coaches the newcomers in infrastructure?",
    ),
    (
        "Abena works remotely from Accra, an hour behind Berlin in winter.",
        "Which time zone is Abena in?",
    ),
    # hardware
    (
        "The NAS has four 8 TB drives in RAID 5.",
        "How are the disks in the storage box set up?",
    ),
    (
        "The office 3D printer is a Prusa MK4 that prints with PLA filament.",
        "What material does the additive-manufacturing machine use?",
    ),
    (
        "The user reads ebooks on a Kobo Libra bought in 2022.",
        "Which gadget does the user use for digital books?",
    ),
    (
        "The home router is a Fritz!Box in the hallway cupboard; restarting it fixes most "
        "connection problems.",
        "The internet is down at the house: where's the modem?",
    ),
    (
        "The UPS in the server rack keeps everything running for about twelve minutes in a power "
        "cut.",
        "How long will the equipment cabinet stay up if the electricity fails?",
    ),
    (
        "The Raspberry Pi in the living room runs Pi-hole to block ads for the whole network.",
        "Which machine filters out advertising at home?",
    ),
    # money
    (
        "Purchases on the company card above 500 euros need the manager's approval in advance.",
        "How much can I spend before I have to ask my boss first?",
    ),
    (
        "The user's employer matches pension contributions up to 5 percent of salary.",
        "How much of my retirement savings does the company top up?",
    ),
    (
        "The accountant, Mr. Brandt, files the VAT returns every quarter.",
        "Who handles our sales tax paperwork?",
    ),
    (
        "Last month's cloud bill was 18,400 dollars, mostly GPU instances.",
        "How much did hosting cost us in the previous month?",
    ),
    (
        "Supplier invoices are paid 45 days after they are received.",
        "How long do we take to settle vendor bills?",
    ),
    # travel
    (
        "The user collects frequent flyer miles with Lufthansa Miles & More.",
        "Which airline loyalty programme does the user earn points with?",
    ),
    (
        "For the October conference in Tokyo we are booked at the Park Hyatt.",
        "Where are we staying in Japan for the event?",
    ),
    (
        "The family's travel insurance comes with the credit card and covers trips of up to 90 "
        "days.",
        "Are we covered if something goes wrong on holiday abroad?",
    ),
    (
        "The train tickets for the Paris trip are in the user's email from SNCF.",
        "Where can I find the rail bookings for France?",
    ),
    # health
    (
        "The user takes 10 mg of cetirizine every morning during hay fever season.",
        "Which allergy pill does the user take in spring?",
    ),
    (
        "The user's blood type is O negative.",
        "If the user ever needs a transfusion, which group are they?",
    ),
    (
        "The physiotherapist told the user to stretch the left knee twice a day.",
        "What exercises should the user do for the injured joint?",
    ),
    (
        "The user's last tetanus booster was in 2023, so the next one is due in 2033.",
        "When does the user need another jab against lockjaw?",
    ),
]

PAIRS: list[tuple[str, str]] = DEV_PAIRS + HELD_OUT_PAIRS
"""Every pair, the development half first; ``bench.recall`` reports misses by index here."""

DEV: frozenset[int] = frozenset(range(len(DEV_PAIRS)))
HELD_OUT: frozenset[int] = frozenset(range(len(DEV_PAIRS), len(PAIRS)))
"""The indices into ``PAIRS`` of the held-out half: never used for tuning."""
