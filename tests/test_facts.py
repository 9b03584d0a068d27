"""Facts by rule: each pattern finds what it should, ordinary talk yields nothing, and known
facts are repeated, superseded or added as their keys say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudbrain.memory.facts import (
    Fact,
    New,
    Repeat,
    StoredFact,
    Supersede,
    decide,
    extract_facts,
    is_knowledge,
    normalize_key,
)


def facts(user: str, ai: str = "") -> list[tuple[str, str, str]]:
    return [(f.key, f.text, f.value) for f in extract_facts(user, ai)]


def one(user: str, ai: str = "") -> Fact:
    [fact] = extract_facts(user, ai)
    return fact


# --- Names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("My name is Ada.", "Ada"),
        ("MY NAME IS Ada", "Ada"),
        ("my name is ada", "Ada"),
        ("MY NAME IS ADA LOVELACE", "Ada Lovelace"),
        ("My name's Ada Lovelace, nice to meet you.", "Ada Lovelace"),
        ("my name is Ludwig van Beethoven", "Ludwig van Beethoven"),
        ("Hi, I'm Ada.", "Ada"),
        ("I am Ada Lovelace", "Ada Lovelace"),
        ("i'm Ada", "Ada"),
        ("Hey I'm Bob from accounting", "Bob"),
        ("Call me Addy.", "Addy"),
        ("You can CALL ME Al", "Al"),
        ("My name is José.", "José"),
    ],
)
def test_names(said: str, name: str) -> None:
    assert one(said) == Fact("user name", f"The user's name is {name}.", name, "user")


@pytest.mark.parametrize(
    "said",
    [
        "I'm tired",
        "I'm Tired",
        "I'M ADA",
        "I'm English",
        "i'm ada",
        "Call me tomorrow",
        "Call me back later",
        "Don't call me Bob",
        "My name is not important",
        "My name is Ada?",
    ],
)
def test_what_only_looks_like_a_name(said: str) -> None:
    assert facts(said) == []


# --- Preferences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "text", "value"),
    [
        (
            "My favourite editor is Helix.",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "Helix",
        ),
        (
            "my Favourite Editor is helix",
            "user favourite editor",
            "The user's favourite editor is helix.",
            "helix",
        ),
        (
            "MY FAVORITE COLOR IS BLUE",
            "user favourite colour",
            "The user's favourite color is BLUE.",
            "BLUE",
        ),
        (
            "my fave colour's blue",
            "user favourite colour",
            "The user's favourite colour is blue.",
            "blue",
        ),
        (
            "My favourite colours are red and green",
            "user favourite colours",
            "The user's favourite colours are red and green.",
            "red and green",
        ),
        (
            "Helix is my favourite editor",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "Helix",
        ),
        (
            "My favourite café is Le Nid because of the view",
            "user favourite cafe",
            "The user's favourite café is Le Nid.",
            "Le Nid",
        ),
    ],
)
def test_favourites(said: str, key: str, text: str, value: str) -> None:
    assert one(said) == Fact(key, text, value, "user")


@pytest.mark.parametrize(
    ("said", "key", "text", "value"),
    [
        ("I like Rust", "user likes rust", "The user likes Rust.", "Rust"),
        ("i LIKE tea too", "user likes tea", "The user likes tea.", "tea"),
        ("I really LOVE my dog!", "user likes their dog", "The user loves their dog.", "their dog"),
        ("I enjoy hiking", "user likes hiking", "The user enjoys hiking.", "hiking"),
        ("I'm a big fan of Zig", "user likes zig", "The user likes Zig.", "Zig"),
        ("I hate YAML", "user dislikes yaml", "The user hates YAML.", "YAML"),
        ("I Dislike meetings", "user dislikes meetings", "The user dislikes meetings.", "meetings"),
        (
            "I really don't like Mondays",
            "user dislikes mondays",
            "The user dislikes Mondays.",
            "Mondays",
        ),
        ("I can't stand tabs", "user dislikes tabs", "The user dislikes tabs.", "tabs"),
        ("I'm not a fan of YAML", "user dislikes yaml", "The user dislikes YAML.", "YAML"),
        (
            "I prefer dark mode",
            "user prefers dark mode",
            "The user prefers dark mode.",
            "dark mode",
        ),
        (
            "I prefer tea over coffee",
            "user prefers coffee or tea",
            "The user prefers tea over coffee.",
            "tea",
        ),
        (
            "I PREFER Coffee to tea",
            "user prefers coffee or tea",
            "The user prefers Coffee over tea.",
            "Coffee",
        ),
        (
            "I prefer going to the gym",
            "user prefers going to the gym",
            "The user prefers going to the gym.",
            "going to the gym",
        ),
        (
            "I use Helix for editing",
            "user uses for editing",
            "The user uses Helix for editing.",
            "Helix",
        ),
        (
            "I'm using Python to automate stuff",
            "user uses to automate stuff",
            "The user uses Python to automate stuff.",
            "Python",
        ),
        ("I use Linux", "user uses linux", "The user uses Linux.", "Linux"),
    ],
)
def test_preferences(said: str, key: str, text: str, value: str) -> None:
    assert one(said) == Fact(key, text, value, "user")


def test_a_choice_either_way_round_is_one_slot() -> None:
    assert one("I prefer tea over coffee").key == one("I prefer coffee rather than tea").key


# --- Where the user lives and works ---------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "text", "value"),
    [
        ("I live in Berlin", "user lives in", "The user lives in Berlin.", "Berlin"),
        ("I LIVE IN berlin since 2020", "user lives in", "The user lives in berlin.", "berlin"),
        ("I've just moved to Lisbon", "user lives in", "The user lives in Lisbon.", "Lisbon"),
        (
            "I'm based in São Paulo now",
            "user lives in",
            "The user lives in São Paulo.",
            "São Paulo",
        ),
        ("I work at Acme", "user works at", "The user works at Acme.", "Acme"),
        (
            "I work for the University of Oslo",
            "user works at",
            "The user works for the University of Oslo.",
            "the University of Oslo",
        ),
        (
            "I work as a backend developer",
            "user works as",
            "The user works as a backend developer.",
            "backend developer",
        ),
    ],
)
def test_places(said: str, key: str, text: str, value: str) -> None:
    assert one(said) == Fact(key, text, value, "user")


# --- Notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "text", "value"),
    [
        (
            "Remember that the deploy window is Friday 10:00.",
            "note deploy window",
            "Remember: the deploy window is Friday 10:00.",
            "the deploy window is Friday 10:00",
        ),
        (
            "PLEASE REMEMBER the deploy window's Monday",
            "note deploy window",
            "Remember: the deploy window's Monday.",
            "the deploy window's Monday",
        ),
        (
            "Note that staging runs on port 8080",
            "note staging runs",
            "Remember: staging runs on port 8080.",
            "staging runs on port 8080",
        ),
        ("Don't forget to buy milk!", "note buy milk", "Remember to buy milk.", "to buy milk"),
        (
            "Keep in mind: the Café opens at 9",
            "note cafe opens",
            "Remember: the Café opens at 9.",
            "the Café opens at 9",
        ),
    ],
)
def test_notes(said: str, key: str, text: str, value: str) -> None:
    assert one(said) == Fact(key, text, value, "user")


def test_a_note_that_states_a_personal_fact_is_kept_as_that_fact() -> None:
    assert facts("Please remember my favourite editor is Helix.") == [
        ("user favourite editor", "The user's favourite editor is Helix.", "Helix")
    ]


@pytest.mark.parametrize(
    "said",
    [
        "Remember",
        "remember: Friday",
        "Do you remember the deploy window?",
        "Remember when we met?",
        "Remember what I said",
    ],
)
def test_what_is_not_a_note(said: str) -> None:
    assert facts(said) == []


# --- Definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "text", "value"),
    [
        (
            "Kubernetes is a container orchestrator.",
            "definition kubernetes",
            "Kubernetes is a container orchestrator.",
            "a container orchestrator",
        ),
        (
            "kubernetes IS A container orchestrator",
            "definition kubernetes",
            "Kubernetes is a container orchestrator.",
            "a container orchestrator",
        ),
        (
            "A monad is a monoid in the category of endofunctors.",
            "definition monad",
            "A monad is a monoid in the category of endofunctors.",
            "a monoid in the category of endofunctors",
        ),
        ("K8s means Kubernetes", "definition k8s", "K8s means Kubernetes.", "Kubernetes"),
        (
            "API stands for Application Programming Interface.",
            "definition api",
            "API stands for Application Programming Interface.",
            "Application Programming Interface",
        ),
        (
            "Kubernetes' scheduler is an optimizer",
            "definition kubernetes scheduler",
            "Kubernetes' scheduler is an optimizer.",
            "an optimizer",
        ),
    ],
)
def test_definitions_from_the_user(said: str, key: str, text: str, value: str) -> None:
    assert one(said) == Fact(key, text, value, "user")


def test_definitions_from_the_answer() -> None:
    found = extract_facts(
        "What are k8s and Helm?",
        "Sure! Kubernetes is a container orchestrator. It is great.\n\n"
        "- **Helm** is a package manager for `Kubernetes`.\n"
        "I think you will like it. Note that Helm 3 has no Tiller.",
    )
    assert found == [
        Fact(
            "definition kubernetes",
            "Kubernetes is a container orchestrator.",
            "a container orchestrator",
            "ai",
        ),
        Fact(
            "definition helm",
            "Helm is a package manager for Kubernetes.",
            "a package manager for Kubernetes",
            "ai",
        ),
    ]


def test_the_answer_speaks_for_the_ai_not_the_user() -> None:
    assert facts("Who are you?", "My name is Claude. I like helping. I live in the cloud.") == []


# --- Several facts, accents, no facts -------------------------------------------------------


def test_several_facts_in_one_message() -> None:
    said = "My name is Ada and my favourite editor is Helix; I live in Paris! I hate YAML."
    assert facts(said) == [
        ("user name", "The user's name is Ada.", "Ada"),
        ("user favourite editor", "The user's favourite editor is Helix.", "Helix"),
        ("user lives in", "The user lives in Paris.", "Paris"),
        ("user dislikes yaml", "The user hates YAML.", "YAML"),
    ]


def test_the_users_facts_come_first_in_the_order_said() -> None:
    found = extract_facts("I like Rust. Rust is a language.", "Cargo is a build tool.")
    assert [(f.key, f.source) for f in found] == [
        ("user likes rust", "user"),
        ("definition rust", "user"),
        ("definition cargo", "ai"),
    ]


def test_the_same_fact_twice_in_one_exchange_is_kept_once() -> None:
    assert facts("I like tea. I LIKE TEA!") == [("user likes tea", "The user likes tea.", "tea")]


def test_accents_are_folded_in_keys_and_kept_in_text() -> None:
    found = facts("My name is José. I like café au lait. I live in São Paulo.")
    assert found == [
        ("user name", "The user's name is José.", "José"),
        ("user likes cafe au lait", "The user likes café au lait.", "café au lait"),
        ("user lives in", "The user lives in São Paulo.", "São Paulo"),
    ]
    assert one("I like CAFÉ AU LAIT").key == one("i like cafe au lait").key


def test_curly_apostrophes_are_apostrophes() -> None:
    assert one("I\u2019m Ada").value == "Ada"
    assert one("My name\u2019s Ada").value == "Ada"


def test_questions_state_nothing_but_their_statements_do() -> None:
    assert facts("My name is Ada, what's yours?") == [
        ("user name", "The user's name is Ada.", "Ada")
    ]
    assert facts("I like tea, do you?") == [("user likes tea", "The user likes tea.", "tea")]
    assert facts("Do you know I like tea?") == []
    assert facts("What is a monad?") == []


ORDINARY = [
    "I'm going home",
    "It is raining",
    "This is fine",
    "There is a bug in it",
    "It's a trap!",
    "That is a good question",
    "Today is a good day",
    "Life is a journey",
    "Python is a great language",
    "The build is a mess",
    "He is a doctor",
    "Everything is a file",
    "I think Rust is a good choice",
    "Thanks, that means a lot",
    "Here is an example",
    "I like it",
    "I love you",
    "I love how you did that",
    "I like the way you think",
    "If I like it, I'll buy it",
    "What I like is pizza",
    "I'd like a coffee",
    "I'm not sure",
    "I am happy",
    "I'm working on a bug",
    "I'M TIRED",
    "I'm Going To The Store",
    "I use it for work",
    "We use Python for that",
    "I live in fear",
    "I work at night",
    "I need help with my code",
    "My car is in the shop",
    "My favourite band's new album is great",
    "Can you fix the tests?",
    "",
    "   \n\n ",
]


@pytest.mark.parametrize("said", ORDINARY)
def test_ordinary_sentences_yield_no_facts(said: str) -> None:
    assert facts(said) == []
    assert facts("Hello.", said) == []


# --- What is not knowledge ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Error: connection failed",
        "error: bad request",
        "  ERROR: upstream gone",
        "The request timed out after 30s",
        'Traceback (most recent call last):\n  File "x.py", line 1',
        "Failed: connection refused by 127.0.0.1:11434",
        "I don't know.",
        "I do not know what Kubernetes is, sorry.",
        "I don\u2019t know",
        'model "llama3.2" not found, try pulling it first',
        "",
    ],
)
def test_failures_are_not_knowledge(answer: str) -> None:
    assert is_knowledge(answer) is False


@pytest.mark.parametrize(
    "answer",
    [
        "Kubernetes is a container orchestrator.",
        "The error handler retries twice.",
        "Set the timeout to 30 seconds.",
        "I know a good answer: yes.",
    ],
)
def test_answers_are_knowledge(answer: str) -> None:
    assert is_knowledge(answer) is True


def test_a_failed_answer_gives_nothing_but_the_question_still_does() -> None:
    assert extract_facts("My name is Ada", "Error: model not found. Kubernetes is a tool.") == [
        Fact("user name", "The user's name is Ada.", "Ada", "user")
    ]
    assert extract_facts("Hi", "I don't know, but Kubernetes is a container orchestrator.") == []


# --- Keys -----------------------------------------------------------------------------------


def test_keys_are_normalized() -> None:
    assert normalize_key("  Favorite   COLOR ") == "favourite colour"
    assert normalize_key("Café-Crème") == "cafe creme"
    assert normalize_key("C++ and F#") == "c++ and f#"
    assert normalize_key("user's Gray") == "user grey"
    assert normalize_key("東京") == "東京"
    assert len(normalize_key("word " * 100)) <= 200


def test_spelling_variants_fill_one_slot() -> None:
    assert one("my favorite color is blue").key == one("My Favourite Colour is red").key


# --- Deciding -------------------------------------------------------------------------------


def stored(id: str, key: str, value: str, superseded_by: str | None = None) -> StoredFact:
    return StoredFact(id=id, key=key, value=value, count=1, superseded_by=superseded_by)


def test_the_same_value_again_is_a_repeat() -> None:
    new = one("my favourite editor is HELIX!")
    existing = [stored("f1", "user favourite editor", "Helix."), stored("f2", "user name", "Ada")]
    assert decide(new, existing) == Repeat("f1")


def test_a_new_value_supersedes_the_current_one() -> None:
    new = one("My favourite editor is Vim")
    existing = [stored("f1", "user favourite editor", "Helix")]
    assert decide(new, existing) == Supersede("f1")


def test_a_new_key_is_new() -> None:
    assert decide(one("I live in Oslo"), [stored("f1", "user name", "Ada")]) == New()
    assert decide(one("I live in Oslo"), []) == New()


def test_superseded_facts_are_history() -> None:
    new = one("I live in Oslo")
    existing = [
        stored("f1", "user lives in", "Oslo", superseded_by="f2"),
        stored("f2", "user lives in", "Berlin"),
    ]
    assert decide(new, existing) == Supersede("f2")
    assert decide(new, [stored("f1", "user lives in", "Oslo", superseded_by="f2")]) == New()


def test_two_current_values_are_both_superseded() -> None:
    existing = [stored("f1", "user name", "Ada"), stored("f2", "user name", "Addy")]
    assert decide(one("Call me Lovelace"), existing) == Supersede("f1", also=("f2",))


def test_likes_are_additive() -> None:
    tea, coffee, love_tea = one("I like tea"), one("I like coffee"), one("I LOVE Tea")
    existing = [stored("f1", tea.key, tea.value)]
    assert decide(coffee, existing) == New()
    assert decide(love_tea, existing) == Repeat("f1")
    assert decide(one("I hate tea"), existing) == New()


def test_a_choice_between_two_things_is_one_slot() -> None:
    first = one("I prefer tea over coffee")
    assert decide(one("I prefer coffee to tea"), [stored("f1", first.key, first.value)]) == (
        Supersede("f1")
    )


def test_a_later_note_on_the_same_subject_supersedes() -> None:
    first = one("Remember that the deploy window is Friday 10:00")
    later = one("Note: the deploy window is Monday 9:00")
    assert decide(later, [stored("f1", first.key, first.value)]) == Supersede("f1")


# --- Any text -------------------------------------------------------------------------------


@given(st.text(), st.text())
def test_any_text_gives_well_formed_facts(user: str, ai: str) -> None:
    for fact in extract_facts(user, ai):
        assert fact.key.strip() and fact.text.strip()
        assert fact.source in ("user", "ai")
        assert len(fact.key) <= 256


# Pieces of the patterns, so that random sequences of them come close to matching.
WORDS = ["I", "my", "name", "is", "Ada", "like", "a", "an", "tea", "remember", "that", "'m"]
WORDS += [",", ".", "?", "\n", "**", "favourite", "call", "me", "X", "means", "prefer", "over"]
WORDS += ["to", "use", "for", "live", "in", "work", "at", "É"]


@given(st.lists(st.sampled_from(WORDS)))
def test_sentence_like_text_gives_well_formed_facts(words: list[str]) -> None:
    for fact in extract_facts(" ".join(words), " ".join(reversed(words))):
        assert fact.key.strip() and fact.text.strip() and fact.value.strip()
