"""Reputation as plain functions: sybil rings against an honest, endorsed expert, with and
without the owner's trust; daily caps; self-endorsement; down-ratings; dilution; and the
parts of every score adding up to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbrain.familio.reputation import (
    GIVER_DAILY_CAP,
    MAX_LEND,
    Evidence,
    Flow,
    compute,
    counted,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=90)  # long-standing identities
FRESH = NOW - timedelta(hours=2)  # made today


def endorse(giver: str, receiver: str, skill: str = "kubernetes", days: float = 1) -> Evidence:
    return Evidence(giver, receiver, "endorse", (skill,), NOW - timedelta(days=days))


def honest_family() -> tuple[dict[str, datetime], list[Evidence]]:
    """Long-standing AIs; two of them vouch for the expert's kubernetes."""
    created = {name: OLD for name in ("you", "ada", "linus", "grace", "expert")}
    evidence = [
        endorse("you", "ada", "python", days=5),
        endorse("you", "linus", "linux", days=5),
        endorse("ada", "expert", days=3),
        endorse("linus", "expert", days=3),
    ]
    return created, evidence


def ring(size: int, created_at: datetime) -> tuple[dict[str, datetime], list[Evidence]]:
    """``size`` accounts that all endorse each other for kubernetes, today."""
    names = [f"sybil{i}" for i in range(size)]
    evidence = [endorse(a, b, days=0.01) for a in names for b in names if a != b][
        : size * GIVER_DAILY_CAP
    ]
    return dict.fromkeys(names, created_at), evidence


def test_a_ring_of_fresh_accounts_gains_little_against_an_endorsed_expert() -> None:
    created, evidence = honest_family()
    sybils, praise = ring(10, FRESH)
    result = compute({**created, **sybils}, evidence + praise, {}, NOW)
    assert result.seeded_by == "founders"
    expert, sybil = result.of("expert"), result.of("sybil0")
    assert expert is not None and sybil is not None
    assert expert.score > 0.6  # a founder that two founders vouch for
    assert sybil.score == 0.0  # made later, and vouched for by nobody with trust
    expert_k8s, sybil_k8s = result.of("expert", "kubernetes"), result.of("sybil0", "kubernetes")
    assert expert_k8s is not None and sybil_k8s is not None
    assert expert_k8s.score > 10 * sybil_k8s.score


def test_with_the_owners_trust_a_ring_gains_nothing_even_when_old() -> None:
    created, evidence = honest_family()
    sybils, praise = ring(10, OLD)  # patient attackers: old accounts
    result = compute({**created, **sybils}, evidence + praise, {"you": 1.0}, NOW)
    assert result.seeded_by == "owner"
    sybil = result.of("sybil3")
    assert sybil is not None and sybil.score == 0.0 and sybil.parts == ()
    expert = result.of("expert")
    assert expert is not None and expert.score > 0.25  # two steps from the owner's trust
    assert {p.source for p in expert.parts} == {"ada", "linus"}


def test_praise_from_an_ai_nobody_trusts_is_worth_nothing() -> None:
    created, evidence = honest_family()
    created["stranger"] = OLD
    created["protege"] = OLD
    evidence.append(endorse("stranger", "protege", days=2))
    result = compute(created, evidence, {"you": 1.0}, NOW)
    protege = result.of("protege")
    assert protege is not None and protege.score == 0.0


def test_without_any_evidence_everyone_is_average() -> None:
    created = dict.fromkeys(("a", "b", "c"), OLD)
    result = compute(created, [], {}, NOW)
    assert {result.of(n).score for n in created} == {0.5}  # type: ignore[union-attr]


def test_self_endorsements_and_self_ratings_are_ignored() -> None:
    created = dict.fromkeys(("vain", "other"), OLD)
    evidence = [
        endorse("vain", "vain", days=2),
        Evidence("vain", "vain", "accept", ("python",), NOW - timedelta(days=1)),
    ]
    result = compute(created, evidence, {}, NOW)
    assert result.of("vain").score == result.of("other").score == 0.5  # type: ignore[union-attr]
    assert result.of("vain", "kubernetes") is None


def test_a_down_rating_takes_away_what_the_same_giver_said() -> None:
    created = dict.fromkeys(("you", "ada", "bob"), OLD)
    praised = [
        Evidence("you", "ada", "up", ("python",), NOW - timedelta(days=2)),
        Evidence("you", "bob", "up", ("python",), NOW - timedelta(days=2)),
    ]
    both = compute(created, praised, {"you": 1.0}, NOW)
    assert both.of("ada").score == both.of("bob").score > 0  # type: ignore[union-attr]
    panned = [*praised, Evidence("you", "bob", "down", ("python",), NOW - timedelta(days=1))]
    after = compute(created, panned, {"you": 1.0}, NOW)
    assert after.of("bob").score == 0.0  # type: ignore[union-attr]
    # What the giver no longer lends bob is not all ada's: one receiver gets at most MAX_LEND.
    assert after.of("ada").score == both.of("ada").score  # type: ignore[union-attr]


def test_endorsing_everyone_dilutes_each_endorsement() -> None:
    created = {n: OLD for n in ("you", "picky", "generous", "a", "b", "c", "d")}
    evidence = [
        endorse("you", "picky", days=9),
        endorse("you", "generous", days=9),
        endorse("picky", "a", days=3),
        *(endorse("generous", n, days=3) for n in ("b", "c", "d")),
    ]
    result = compute(created, evidence, {"you": 1.0}, NOW)
    assert result.of("a").score > result.of("b").score > 0  # type: ignore[union-attr]


def test_the_givers_daily_cap_holds_its_evidence_back_in_order_and_it_counts_later() -> None:
    spree = [endorse("busy", f"ai{i}", days=0.001 * i) for i in range(GIVER_DAILY_CAP + 3)]
    counts, waiting = counted(spree, NOW.date())
    assert len(counts) == GIVER_DAILY_CAP and sum(waiting.values()) == 3
    # The oldest count first: what waits is the newest.
    assert {e.receiver for e in counts} == {f"ai{i}" for i in range(3, GIVER_DAILY_CAP + 3)}
    later, waiting = counted(spree, NOW.date() + timedelta(days=1))
    assert len(later) == len(spree) and waiting == {}

    created = {"busy": OLD, **{f"ai{i}": OLD for i in range(len(spree))}}
    assert compute(created, spree, {}, NOW).of("ai2").waiting == 1  # type: ignore[union-attr]


def test_a_flood_of_givers_never_delays_what_others_give() -> None:
    """A receiver has no queue: fresh accounts endorsing a newcomer for junk skills do not hold
    back what her trusted colleagues say of her the same day."""
    junk = [
        endorse(f"troll{i % 2}", "newcomer", f"junk{i}", days=0.5 - 0.001 * i) for i in range(60)
    ]
    real = [endorse(name, "newcomer", "postgresql", days=0.1) for name in ("ada", "bob")]
    counts, waiting = counted(junk + real, NOW.date())
    assert all(piece in counts for piece in real)
    assert waiting == {"newcomer": 60 - 2 * GIVER_DAILY_CAP}


names = st.sampled_from([f"ai{i}" for i in range(6)])
kinds = st.sampled_from(["endorse", "up", "accept", "down"])
pieces = st.builds(
    Evidence,
    giver=names,
    receiver=names,
    kind=kinds,
    skills=st.tuples(st.sampled_from(["python", "linux"])),
    at=st.integers(0, 30 * 24).map(lambda h: NOW - timedelta(hours=h)),
)


@settings(max_examples=150, deadline=None)
@given(
    evidence=st.lists(pieces, max_size=60),
    trusted=st.dictionaries(names, st.floats(0, 5), max_size=3),
    ages=st.lists(st.integers(0, 60), min_size=6, max_size=6),
)
def test_scores_are_shares_of_one_trust_and_their_parts_add_up(
    evidence: list[Evidence], trusted: dict[str, float], ages: list[int]
) -> None:
    created = {f"ai{i}": NOW - timedelta(days=age) for i, age in enumerate(ages)}
    result = compute(created, evidence, trusted, NOW)
    overall = [result.of(name) for name in created]
    assert all(s is not None for s in overall)
    assert abs(sum(s.trust for s in overall if s) - 1.0) < 1e-6
    for score in (s for by_skill in result.scores.values() for s in by_skill.values()):
        assert 0.0 <= score.score < 1.0
        if score.parts:
            assert abs(sum(p.share for p in score.parts) - 1.0) < 0.01
            assert score.agent not in {p.source for p in score.parts}  # never oneself


def test_the_parts_of_a_trust_near_zero_still_add_up() -> None:
    """Found by hypothesis: a trust of 1e-240 left the parts 1.72 of it."""
    piece = Evidence("ai0", "ai0", "endorse", ("python",), NOW)
    evidence = [
        piece,
        piece,
        piece,
        Evidence("ai0", "ai2", "endorse", ("python",), NOW),
        Evidence("ai2", "ai0", "endorse", ("python",), NOW),
    ]
    created = {f"ai{i}": NOW for i in range(6)}
    result = compute(created, evidence, {"ai0": 3.7593200337035683e-240, "ai1": 1.0}, NOW)
    for by_skill in result.scores.values():
        for score in by_skill.values():
            if score.parts:
                assert abs(sum(p.share for p in score.parts) - 1.0) < 0.01


lending = st.dictionaries(
    st.tuples(names, names).filter(lambda pair: pair[0] != pair[1]),
    st.floats(0.01, MAX_LEND),
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(shares=lending, seeded=st.sets(names, min_size=1, max_size=3))
def test_trust_without_an_ai_is_trust_worked_out_again_with_its_lending_removed(
    shares: dict[tuple[str, str], float], seeded: set[str]
) -> None:
    """The closed form of :class:`Flow` against the fixed point solved again from scratch with
    the receiver's lending taken out, for every giver and receiver."""
    seeds = {name: 1 / len(seeded) for name in seeded}
    flow = Flow(shares, seeds)
    for receiver in {r for _, r in shares}:
        alone = Flow({p: s for p, s in shares.items() if p[0] != receiver}, seeds)
        for giver in {g for g, r in shares if r == receiver} | {receiver}:
            expected = alone.own(receiver) if giver == receiver else alone_trust(alone, giver)
            assert abs(flow.without(giver, receiver) - expected) < 1e-9


def alone_trust(flow: Flow, agent: str) -> float:
    """Trust of ``agent``, returns included (what :meth:`Flow.without` gives for a receiver
    that lends nothing)."""
    return flow.without(agent, "nobody")


def test_only_ratings_of_answers_that_knew_something_teach_a_skill() -> None:
    created = dict.fromkeys(("you", "ada"), OLD)
    rated = [Evidence("you", "ada", "accept", ("python",), NOW - timedelta(days=1), knows=False)]
    assert compute(created, rated, {"you": 1.0}, NOW).of("ada", "python").learned == 0.0  # type: ignore[union-attr]
    knew = [Evidence("you", "ada", "accept", ("python",), NOW - timedelta(days=1))]
    assert compute(created, knew, {"you": 1.0}, NOW).of("ada", "python").learned == 3.0  # type: ignore[union-attr]
