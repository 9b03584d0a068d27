"""A model's verdicts on facts, as mem0 has them (add, supersede, ignore against what is known):
read defensively from its JSON, and merged with the rules, which decide whatever the model
left alone or could not say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudbrain.agent.brains.judging import (
    MAX_MODEL_FACTS,
    facts_request,
    labelled,
    parse_judged,
)
from cloudbrain.memory.facts import (
    Fact,
    Ignore,
    Judged,
    New,
    Repeat,
    StoredFact,
    Supersede,
    choose,
    extract_facts,
    judge,
)

PORT = StoredFact(
    "m-port", "note vpn port", "the VPN port is 1194", text="Remember: the VPN port is 1194."
)
EDITOR = StoredFact(
    "m-editor", "user favourite editor", "Vim", text="The user's favourite editor is Vim."
)
LABELS = labelled([PORT, EDITOR])


def verdict(*items: object) -> str:
    return json.dumps({"facts": list(items)})


def port(value: str = "443", **more: Any) -> dict[str, Any]:
    return {"subject": "vpn port", "value": value, "fact": f"The VPN port is {value}.", **more}


def test_the_model_sees_known_facts_under_labels_and_the_message() -> None:
    assert list(LABELS) == ["K1", "K2"]
    request = facts_request("We run the VPN on 443 now.", LABELS)
    assert request == (
        "Known facts:\n"
        "K1: Remember: the VPN port is 1194. (subject: note vpn port)\n"
        "K2: The user's favourite editor is Vim. (subject: user favourite editor)\n\n"
        "Message:\nWe run the VPN on 443 now."
    )
    assert "(none)" in facts_request("hello", {})
    found = extract_facts("Actually, the VPN port moved from 1194 to 443.")
    assert facts_request("Actually, ...", LABELS, found).split("\n\n")[1:] == [
        "Found by rules in the message:\n"
        "- Remember: the VPN port moved to 443. (subject: note vpn port)",
        "Message:\nActually, ...",
    ]


@pytest.mark.parametrize("label", ["K1", "k1", " K1 ", "[K1]", "1", 1])
def test_a_supersede_names_a_known_fact_by_its_label(label: object) -> None:
    [judged] = parse_judged(verdict(port(event="supersede", known=label)), LABELS) or []
    assert judged == Judged(
        Fact("vpn port", "The VPN port is 443.", "443", "ai"), "supersede", "m-port"
    )


@pytest.mark.parametrize(
    ("event", "read"),
    [
        ("add", "add"),
        ("ADD", "add"),
        ("new", "add"),
        ("update", "supersede"),
        ("Supersede", "supersede"),
        ("replace", "supersede"),
        ("delete", "supersede"),
        ("none", "ignore"),
        ("NOOP", "ignore"),
        ("ignore", "ignore"),
        ("something else", "add"),
    ],
)
def test_events_as_models_spell_them(event: str, read: str) -> None:
    [judged] = parse_judged(verdict(port(event=event, known="K1")), LABELS) or []
    assert judged.event == read


def test_a_label_it_was_not_shown_names_nothing() -> None:
    [judged] = parse_judged(verdict(port(event="supersede", known="K9")), LABELS) or []
    assert (judged.event, judged.known) == ("add", None)  # decided by its own slot then
    [judged] = parse_judged(verdict(port(event="supersede", id="K2")), LABELS) or []
    assert judged.known == "m-editor"  # mem0 calls it "id"; taken too


def test_an_ignore_may_name_only_the_known_fact() -> None:
    [judged] = parse_judged(verdict({"event": "ignore", "known": "K2"}), LABELS) or []
    assert (judged.event, judged.known, judged.fact.key) == ("ignore", "m-editor", EDITOR.key)


@pytest.mark.parametrize(
    "answer",
    ["", "not json", "You said: hello", '{"facts": "none"}', '{"memory": 1}', "42", "null"],
)
def test_no_verdict_when_the_answer_is_not_the_json_asked_for(answer: str) -> None:
    assert parse_judged(answer, LABELS) is None


def test_malformed_items_are_dropped_one_by_one() -> None:
    judged = parse_judged(
        verdict(
            port(),
            {"subject": "", "value": "x", "fact": "no subject"},
            {"subject": "x", "value": "y"},
            {"subject": "a", "value": "b", "fact": "Error: model crashed"},
            {"subject": "a", "value": 3, "fact": "not a string"},
            {"event": "supersede", "known": "K1"},  # says what to replace, not with what
            "a string",
        ),
        LABELS,
    )
    assert [j.fact.key for j in judged or []] == ["vpn port"]
    assert parse_judged('{"facts": []}', LABELS) == []
    assert parse_judged(json.dumps([port()]), LABELS) is not None  # a bare list is read too


def test_at_most_a_few_facts_are_taken() -> None:
    many = verdict(*(port(str(n)) for n in range(20)))
    assert len(parse_judged(many, LABELS) or []) == MAX_MODEL_FACTS


# --- Choosing between the model and the rules ------------------------------------------------

RULES = extract_facts("Actually, the VPN port moved from 1194 to 443. I like tea.")


def test_without_a_verdict_the_rules_decide() -> None:
    assert [f.key for f in RULES] == ["note vpn port", "user likes tea"]
    assert choose(RULES, None, [PORT]) == RULES


def test_the_rules_fill_the_slots_the_model_left_alone() -> None:
    model = Judged(Fact("vpn port", "The VPN port is 443.", "443", "ai"), "supersede", "m-port")
    # The verdict names the known note on the port: the rules' port fact is its business.
    assert choose(RULES, [model], [PORT]) == [model, RULES[1]]
    # An empty verdict touches nothing: the rules decide all.
    assert choose(RULES, [], [PORT]) == RULES
    # A verdict in the rules' own slot wins it, even "ignore".
    ignored = Judged(Fact("user likes tea", "The user likes tea.", "tea", "ai"), "ignore")
    assert choose(RULES, [ignored], [PORT]) == [ignored, RULES[0]]


# --- Judging one fact ----------------------------------------------------------------------


def test_supersede_replaces_the_named_fact_in_any_slot() -> None:
    new = Fact("vpn port", "The VPN port is 443.", "443", "ai")
    other = StoredFact("m-other", "vpn port", "8443")
    assert judge(Judged(new, "supersede", "m-port"), [PORT, other]) == Supersede(
        "m-port", ("m-other",)
    )


def test_supersede_by_the_same_value_is_a_repeat() -> None:
    same = Fact("vpn port", "Remember: the VPN port is 1194.", "1194", "ai")
    assert judge(Judged(same, "supersede", "m-port"), [PORT]) == Repeat("m-port")


def test_supersede_of_a_fact_no_longer_current_is_decided_by_slot() -> None:
    gone = StoredFact("m-port", "note vpn port", "the VPN port is 1194", superseded_by="x")
    new = Fact("vpn port", "The VPN port is 443.", "443", "ai")
    assert judge(Judged(new, "supersede", "m-port"), [gone]) == New()


def test_add_and_rules_keep_one_value_per_slot() -> None:
    new = Fact("note vpn port", "The VPN port is 443.", "the VPN port is 443", "ai")
    assert judge(Judged(new, "add"), [PORT]) == Supersede("m-port")
    assert judge(new, [PORT]) == Supersede("m-port")


def test_ignore_keeps_nothing() -> None:
    new = Fact("vpn port", "The VPN port is 443.", "443", "ai")
    assert isinstance(judge(Judged(new, "ignore", "m-port"), [PORT]), Ignore)
