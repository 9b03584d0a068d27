"""Corrections as people say them: every phrasing of "the VPN port is now 443" fills the slot
that "remember that the VPN port is 1194" filled, and supersedes it; chatter that merely
sounds like a correction keeps nothing it cannot replace."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudbrain.memory.facts import (
    Decision,
    Fact,
    Ignore,
    New,
    Repeat,
    StoredFact,
    Supersede,
    decide,
    extract_facts,
    normalize_key,
)
from cloudbrain.memory.facts.sentences import clauses, split_sentences

PORT = "note vpn port"
KNOWN_1194 = StoredFact("old", PORT, "the VPN port is 1194", text="Remember: the VPN port is 1194.")


def one(said: str) -> Fact:
    [fact] = extract_facts(said)
    return fact


def test_a_note_and_its_corrections_fill_one_slot() -> None:
    assert one("Remember that the VPN port is 1194.") == Fact(
        PORT, "Remember: the VPN port is 1194.", "the VPN port is 1194", "user"
    )
    assert one("Actually, the VPN port moved from 1194 to 443.") == Fact(
        PORT, "Remember: the VPN port moved to 443.", "the VPN port is 443", "user", "state", "1194"
    )


# --- "moved from A to B", "changed to B" ---------------------------------------------------

STATED = [
    "Actually, the VPN port moved from 1194 to 443.",
    "actually the VPN port moved from 1194 to 443",
    "ACTUALLY, THE VPN PORT MOVED FROM 1194 TO 443!",
    "Actually - the VPN port moved from 1194 to 443!",
    "Actually; the VPN port moved from 1194 to 443",
    "actually,the VPN port moved from 1194 to 443",
    "Actually\u2026 the VPN port moved from 1194 to 443.",
    "Actually, the VPN port has moved from 1194 to 443.",
    "The VPN port moved to 443 from 1194.",
    "The VPN port was changed from 1194 to 443.",
    "The VPN port has been switched over from 1194 to 443",
    "The VPN port went from 1194 to 443.",
    "We moved the VPN port from 1194 to 443.",
    "The VPN port moved from 1194 to 443 last week because of the firewall.",
    "The VPN port is no longer 1194, it's 443.",
    "the vpn port is no longer 1194 - now 443",
    "Note: the VPN port changed from 1194 to 443.",
    "Correction: the VPN port is 443.",
    "CORRECTION: THE VPN PORT IS 443",
    "correction - the VPN port is 443",
    "correction the VPN port is 443",
    "Small correction: the VPN port is 443.",
    "Correction to my last message: the VPN port is 443.",
    "Update: the VPN port is 443.",
    "Correction. The VPN port is 443.",
    "My mistake, the VPN port is 443.",
    "Scratch that: the VPN port is 443.",
    "Correction: the VPN port changed to 443.",
    "Actually, remember that the VPN port is 443.",
    "Actually remember that the VPN port is 443",
    "Oh, and actually, remember that the VPN port is 443!",
    "Remember that the VPN port moved to 443.",
    "Please remember: the VPN port is now 443.",
]


@pytest.mark.parametrize("said", STATED)
def test_stated_changes_fill_the_old_slot_with_the_new_value(said: str) -> None:
    fact = one(said)
    assert (fact.key, normalize_key(fact.value), fact.change) == (
        PORT,
        "the vpn port is 443",
        "state",
    )
    assert fact.was in ("", "1194")
    assert "1194" not in fact.text and "443" in fact.text
    assert fact.text.startswith("Remember: ") and fact.text.endswith(".")
    assert isinstance(decide(fact, [KNOWN_1194]), Supersede)
    assert isinstance(decide(fact, []), New)  # news of a change is worth keeping unasked


def test_the_old_value_is_kept_as_was_and_left_out_of_the_text() -> None:
    fact = one("The VPN port was changed from 1194 to 443.")
    assert (fact.text, fact.was) == ("Remember: the VPN port was changed to 443.", "1194")
    assert one("We moved the standup from Monday to Tuesday.") == Fact(
        "note standup",
        "Remember: we moved the standup to Tuesday.",
        "the standup is Tuesday",
        "user",
        "state",
        "Monday",
    )


# --- Corrections of something known: "is now", "changed to", "X, not Y", "actually, X" -------

AMENDS = [
    "The VPN port is now 443.",
    "the VPN port is now 443!",
    "The VPN port now is 443",
    "The VPN port's now 443.",
    "The VPN port is 443 now.",
    "The VPN port is 443 from now on.",
    "The VPN port will be 443 from now on.",
    "the vpn port changed to 443",
    "The VPN port has changed to 443.",
    "The VPN port's been changed to 443.",
    "The VPN port got switched to 443",
    "IT changed the VPN port to 443.",
    "Actually, the VPN port is 443.",
    "ACTUALLY THE VPN PORT IS 443",
    "The VPN port is 443, actually.",
    "The VPN port is actually 443.",
    "No, the VPN port is 443.",
    "Oops. The VPN port is 443.",
    "Sorry, the VPN port is 443, not 1194.",
    "The VPN port is 443, not 1194.",
    "The VPN port is 443 (not 1194).",
    "The VPN port is 443 instead of 1194.",
    "The VPN port isn't 1194, it's 443.",
    "The VPN port is not 1194 but 443.",
]


@pytest.mark.parametrize("said", AMENDS)
def test_corrections_replace_what_is_known(said: str) -> None:
    fact = one(said)
    assert (fact.key, normalize_key(fact.value)) == (PORT, "the vpn port is 443")
    assert fact.change == "amend" and "1194" not in fact.text
    decision = decide(fact, [KNOWN_1194])
    assert decision == Supersede("old")


@pytest.mark.parametrize("said", AMENDS)
def test_a_correction_of_nothing_known_keeps_nothing(said: str) -> None:
    """ "Actually, the weather is nice" sounds like a correction as much as these do."""
    assert isinstance(decide(one(said), []), Ignore)


def test_a_correction_said_again_is_a_repeat() -> None:
    known = StoredFact("new", PORT, "the VPN port is 443")
    for said in ("Actually, the VPN port moved from 1194 to 443.", "The VPN port is now 443."):
        assert decide(one(said), [known]) == Repeat("new")
    # ... and so is the plain note after a correction, and the correction after the note.
    assert decide(one("Remember that the VPN port is 443"), [known]) == Repeat("new")


# --- Retractions: "no longer" ----------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "The VPN port is no longer 1194.",
        "the VPN port is no longer 1194",
        "The VPN port isn't 1194 anymore.",
        "The VPN port is not 1194 any more.",
        "Actually, the VPN port is no longer 1194!",
    ],
)
def test_no_longer_retracts_the_value_it_names(said: str) -> None:
    fact = one(said)
    assert (fact.key, fact.change, fact.was) == (PORT, "retract", "1194")
    assert fact.text == "Remember: the VPN port is no longer 1194."
    assert decide(fact, [KNOWN_1194]) == Supersede("old")
    # What is known says otherwise already, or nothing is known: nothing to retract.
    assert isinstance(decide(fact, [StoredFact("x", PORT, "the VPN port is 443")]), Ignore)
    assert isinstance(decide(fact, []), Ignore)


def test_a_retraction_matches_whole_words() -> None:
    fact = one("The VPN port is no longer 119.")
    assert isinstance(decide(fact, [KNOWN_1194]), Ignore)


# --- The user's own facts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "key", "text", "was"),
    [
        (
            "My favourite editor changed from Vim to Helix.",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "Vim",
        ),
        (
            "My favourite editor is now Helix.",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "",
        ),
        (
            "Actually, my favourite editor is Helix, not Vim.",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "Vim",
        ),
        (
            "My favourite editor is Helix instead of Vim",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "Vim",
        ),
        (
            "I changed my favourite editor to Helix.",
            "user favourite editor",
            "The user's favourite editor is Helix.",
            "",
        ),
        ("I moved from Berlin to Lisbon.", "user lives in", "The user lives in Lisbon.", "Berlin"),
        ("Correction: my name is Ada.", "user name", "The user's name is Ada.", ""),
        ("Actually, my name is Ada", "user name", "The user's name is Ada.", ""),
    ],
)
def test_changes_of_the_users_own_facts(said: str, key: str, text: str, was: str) -> None:
    """Said about the user, a change is a statement: "My favourite editor is now Helix" is as
    much a favourite as "My favourite editor is Helix"."""
    fact = one(said)
    assert (fact.key, fact.text, fact.change, fact.was) == (key, text, "state", was)


@pytest.mark.parametrize(
    ("said", "key", "text"),
    [
        ("I no longer live in Berlin.", "user lives in", "The user no longer lives in Berlin."),
        ("I don't use Vim anymore", "user uses vim", "The user no longer uses Vim."),
        ("I stopped using Vim.", "user uses vim", "The user no longer uses Vim."),
        ("I no longer work at Acme.", "user works at", "The user no longer works at Acme."),
        ("I'm no longer working at Acme.", "user works at", "The user no longer works at Acme."),
        (
            "My favourite editor is no longer Vim.",
            "user favourite editor",
            "The user's favourite editor is no longer Vim.",
        ),
    ],
)
def test_the_user_retracts_their_own_facts(said: str, key: str, text: str) -> None:
    [fact] = [f for f in extract_facts(said) if f.change == "retract"]
    assert (fact.key, fact.text) == (key, text)


def test_a_note_that_states_a_change_is_kept_as_that_change() -> None:
    assert [
        (f.key, f.change) for f in extract_facts("Remember that I no longer live in Berlin")
    ] == [("user lives in", "retract")]
    assert [
        (f.key, f.was) for f in extract_facts("Remember: the VPN port moved from 1194 to 443")
    ] == [(PORT, "1194")]


def test_a_retraction_then_the_new_value() -> None:
    assert [
        (f.key, f.value, f.change)
        for f in extract_facts("I no longer live in Berlin, I live in Lisbon now.")
    ] == [("user lives in", "no longer Berlin", "retract"), ("user lives in", "Lisbon", "state")]


def test_switching_tools_retracts_the_old_one() -> None:
    assert [(f.key, f.change) for f in extract_facts("I switched from Vim to Helix.")] == [
        ("user uses vim", "retract"),
        ("user uses helix", "state"),
    ]


def test_not_liking_any_more_is_disliking_and_no_longer_liking() -> None:
    assert [(f.key, f.text) for f in extract_facts("I don't like tea anymore")] == [
        ("user likes tea", "The user no longer likes tea."),
        ("user dislikes tea", "The user dislikes tea."),
    ]


# --- What is no correction -------------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "Actually, that is fine.",
        "Actually, it is raining.",
        "Actually I think so.",
        "Actually, I don't know.",
        "Actually, that's a great idea.",
        "He moved from Paris to London.",
        "It changed from bad to worse.",
        "Things moved from bad to worse.",
        "We went to the beach.",
        "I changed my mind.",
        "It is now 5pm.",
        "This is no longer a problem.",
        "That is not what I meant, it's fine.",
        "No, that's wrong.",
        "No, I'm fine.",
        "Sorry, I was busy.",
        "Wait, what?",
        "Actually, can you tell me the VPN port?",
        "Did the VPN port change to 443?",
        "Has the VPN port moved from 1194 to 443?",
        "The price went up.",
        "My mood changed.",
        "I switched off the lights.",
        "The meeting is set to start at 10.",
        "Correction: none.",
        "Update: nothing new.",
        "We moved on.",
        "I'm no longer sure.",
        "I don't know anymore.",
        "I stopped caring.",
        "The answer is yes, not no.",
        "Everything is now fine.",
        "Update the docs.",
        "No longer.",
    ],
)
def test_what_is_no_correction(said: str) -> None:
    assert extract_facts(said) == []


@pytest.mark.parametrize(
    "said",
    [
        "Actually, the weather is nice today.",
        "The conversation moved to politics.",
        "The build is now green.",
        "The plan is now to ship on Friday.",
    ],
)
def test_what_only_sounds_like_a_correction_replaces_something_known_or_nothing(
    said: str,
) -> None:
    assert all(isinstance(decide(f, []), Ignore) for f in extract_facts(said))


def test_a_note_that_says_no_longer_is_a_retraction_too() -> None:
    fact = one("Remember that the VPN port is no longer 1194.")
    assert (fact.key, fact.change, fact.was) == (PORT, "retract", "1194")


def test_a_definition_after_actually_is_still_a_definition() -> None:
    facts = extract_facts("Actually, Kubernetes is a container orchestrator.")
    assert [(f.key, f.change) for f in facts] == [("definition kubernetes", "state")]


def test_history_of_one_slot_through_many_phrasings() -> None:
    """The slot ends holding the last value said, with each earlier one superseded once."""
    stored: list[StoredFact] = []
    said = [
        "Remember that the VPN port is 1194.",
        "Actually, the VPN port moved from 1194 to 443.",
        "The VPN port is now 443.",  # said again: a repeat
        "Correction: the VPN port is 8443.",
        "The VPN port isn't 8443, it's 10443.",
        "The VPN port is no longer 10443.",
    ]
    for n, text in enumerate(said):
        fact = one(text)
        decision = decide(fact, stored)
        if isinstance(decision, Supersede):
            stored = [
                StoredFact(f.id, f.key, f.value, superseded_by=str(n))
                if f.id == decision.old_id
                else f
                for f in stored
            ]
        if isinstance(decision, New | Supersede):
            stored.append(StoredFact(str(n), fact.key, fact.value))
    assert [(f.value, f.superseded_by) for f in stored] == [
        ("the VPN port is 1194", "1"),
        ("the VPN port is 443", "3"),
        ("the VPN port is 8443", "4"),
        ("the VPN port is 10443", "5"),
        ("the VPN port is no longer 10443", None),
    ]


# --- Any text ----------------------------------------------------------------------------------

CORRECTION_WORDS = ["Actually", "actually,", "correction:", "the", "VPN", "port", "is", "are"]
CORRECTION_WORDS += ["now", "no", "longer", "not", "isn't", "it's", "anymore", "moved", "from"]
CORRECTION_WORDS += ["to", "changed", "1194", "443", "I", "my", "favourite", "editor", "we"]
CORRECTION_WORDS += ["remember", "that", ",", ".", "?", "—", "stopped", "using", "instead", "of"]


@given(st.lists(st.sampled_from(CORRECTION_WORDS), max_size=40))
def test_correction_like_text_gives_well_formed_facts(words: list[str]) -> None:
    for fact in extract_facts(" ".join(words)):
        assert fact.key.strip() and fact.text.strip() and fact.value.strip()
        assert fact.change in ("state", "amend", "retract")
        assert fact.change != "retract" or fact.was.strip()
        assert isinstance(decide(fact, [KNOWN_1194]), typing.get_args(Decision))


@pytest.mark.parametrize(
    "text",
    [
        "the port" + " " * 5000 + "moved",
        "Actually" + " " * 5000 + "now",
        "the port " + " ".join(["has been"] * 1000) + " moved to 443",
        " ".join(["the port is not"] * 500),
        " ".join(["x is no longer y"] * 500),
        "the port moved " + " ".join(["from a to"] * 500),
        "I like" + "\t " * 3000 + "tea",
    ],
)
def test_long_runs_of_spaces_and_repeats_are_read_as_single_spaces(text: str) -> None:
    """The patterns only ever see single spaces, so a long run of them cannot make them try
    its many splits (it used to take seconds); and repeated phrases state nothing."""
    for sentence in split_sentences(text):
        assert all("  " not in clause for clause in clauses(sentence))
    assert [f for f in extract_facts(text) if "  " in f.value] == []
