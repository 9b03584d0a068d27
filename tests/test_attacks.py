"""Attacks on reputation and learned skills, played out day by day with the real rules (see
``bench/attacks.py``): rings of up to 100 accounts, a turncoat, a thousand idle identities,
collusion through asks, griefing the daily caps, and a family without the owner's trust. The
honest expert must stay the one asked first, and docs/familio.md must show these outcomes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bench.attacks import (
    ATTACKER,
    BEGIN,
    DAY0,
    END,
    EXPERT,
    SCENARIOS,
    Scenario,
    family,
    griefing,
    idle,
    play,
    ring,
    table,
    turncoats,
)
from cloudbrain.familio.reputation import compute

DOCS = Path(__file__).resolve().parent.parent / "docs" / "familio.md"
PROMISED = [s for s in SCENARIOS if s.promise]


@pytest.mark.parametrize("scenario", PROMISED, ids=[s.name for s in PROMISED])
def test_the_honest_expert_is_asked_first_every_day_of_the_attack(scenario: Scenario) -> None:
    days = list(play(scenario))
    assert len(days) == scenario.days + 1
    lost = [d for d in days if d.first != scenario.expert]
    assert not lost, lost[:3]


@pytest.mark.parametrize("size", [2, 3, 5, 20, 50, 75])
def test_rings_of_the_sizes_between_lose_too(size: int) -> None:
    """The table shows rings of 1, 10, 30 and 100; these fill in between."""
    days = list(play(Scenario(f"a ring of {size}", ring(size))))
    assert all(d.first == EXPERT and d.attacker == 0.0 for d in days)


def test_without_the_owners_trust_a_ring_of_20_loses_for_at_least_30_days() -> None:
    [scenario] = [s for s in SCENARIOS if not s.owner]
    assert scenario.days >= 30 and scenario.age == 30
    days = list(play(scenario))
    assert all(d.first == scenario.expert and d.attacker == 0.0 for d in days)


@pytest.mark.parametrize("size", [1, 20, 100])
def test_accounts_the_family_does_not_trust_teach_no_skill(size: int) -> None:
    """Accepts from a ring (and the attacker's own) every day for 30 days teach nothing."""
    days = list(play(Scenario("ring", ring(size))))
    assert all(d.attacker_learned == 0.0 for d in days)


def test_a_turncoats_protégés_cannot_teach_what_the_turncoat_did_not() -> None:
    """The ring's trust comes from mallory, who got it from the turncoat: their accepts are
    her own trust coming back, so only the turncoat's one up-rating teaches (2.0)."""
    alone = list(play(Scenario("turncoat", turncoats(1, 0))))
    with_ring = list(play(Scenario("turncoat and ring", turncoats(1, 20))))
    assert max(d.attacker_learned for d in with_ring) == max(d.attacker_learned for d in alone)
    assert max(d.attacker for d in with_ring) == pytest.approx(max(d.attacker for d in alone))


def test_idle_identities_change_nobodys_score() -> None:
    world = family()
    now = DAY0 + timedelta(days=1)
    before = compute(world.created, world.evidence, world.owner_trust, now)
    idle(1000)(world)
    after = compute(world.created, world.evidence, world.owner_trust, now)
    for name, scores in before.scores.items():
        assert {s: v.score for s, v in scores.items()} == {
            s: v.score for s, v in after.scores[name].items()
        }


def test_junk_endorsements_do_not_delay_a_newcomers_real_ones() -> None:
    griefed = list(play(Scenario("griefed", griefing(60), days=0, expert="nina")))
    clean = list(play(Scenario("clean", griefing(0), days=0, expert="nina")))
    assert griefed[0].expert == clean[0].expert > 0


def test_what_two_turncoats_can_do_is_shown_not_hidden() -> None:
    """Two of the owner's three trusted AIs vouching for the attacker outweigh the one that
    does not: the docs say so rather than promise otherwise."""
    [scenario] = [s for s in SCENARIOS if not s.promise]
    days = list(play(scenario))
    assert days[-1].attacker > 0.4 and days[-1].first == ATTACKER


def test_the_docs_table_of_attacks_is_the_suites() -> None:
    """docs/familio.md shows what this suite measures (``python -m bench.attacks --write
    docs/familio.md`` writes it)."""
    text = DOCS.read_text()
    shown = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert shown == table().strip()
