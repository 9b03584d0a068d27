"""The ask's deadlines and failovers, driven by a clock the test moves: no sockets, no sleeping."""

from __future__ import annotations

from cloudbrain.directory.ask_machine import AskMachine


def test_everyone_asked_answering_ends_the_wait_at_once() -> None:
    machine = AskMachine.start(["ada", "grace"], [], now=0.0, seconds=10.0)
    assert machine.advance(0.0) == [] and not machine.done(0.0)
    machine.answered("ada", knows=True)
    assert not machine.done(0.1)
    machine.answered("grace", knows=False)
    assert machine.done(0.2) and machine.missing == []


def test_a_silent_specialist_is_missing_when_the_time_is_up() -> None:
    machine = AskMachine.start(["ada", "grace"], [], now=100.0, seconds=10.0)
    machine.answered("ada", knows=True)
    assert machine.wake_at() == 110.0
    assert not machine.done(109.9)
    assert machine.done(110.0) and machine.missing == ["grace"]


def test_a_fallback_is_asked_when_its_share_of_the_time_has_passed() -> None:
    machine = AskMachine.start(["ada"], ["grace", "hopper"], now=0.0, seconds=9.0)
    assert machine.wake_at() == 3.0  # a third each: ada, then grace, then hopper
    assert machine.advance(2.9) == []
    assert machine.advance(3.0) == ["grace"]
    assert machine.wake_at() == 6.0
    assert machine.advance(6.0) == ["hopper"]
    assert machine.wake_at() == 9.0 and machine.failovers == ["grace", "hopper"]
    assert machine.done(9.0) and machine.missing == ["ada", "grace", "hopper"]


def test_those_who_do_not_know_hand_over_at_once() -> None:
    machine = AskMachine.start(["ada"], ["grace", "hopper"], now=0.0, seconds=9.0)
    machine.answered("ada", knows=False)
    assert machine.advance(0.5) == ["grace"]  # not at 3.0: nobody is left to wait for
    machine.answered("grace", knows=False)
    assert machine.advance(0.6) == ["hopper"]
    assert machine.expects("hopper") and not machine.expects("ada")


def test_once_someone_knows_no_more_fallbacks_are_asked() -> None:
    machine = AskMachine.start(["ada", "grace"], ["hopper"], now=0.0, seconds=10.0)
    machine.answered("ada", knows=True)
    assert machine.wake_at() == 10.0  # only the deadline is left to wake for
    assert machine.advance(7.0) == []
    machine.answered("grace", knows=False)
    assert machine.done(7.0) and machine.failovers == [] and machine.missing == []


def test_nothing_is_asked_after_the_deadline() -> None:
    machine = AskMachine.start(["ada"], ["grace"], now=0.0, seconds=4.0)
    assert machine.advance(50.0) == []
    assert machine.done(50.0) and machine.missing == ["ada"]


def test_no_time_at_all_ends_before_anyone_is_asked_again() -> None:
    machine = AskMachine.start(["ada"], ["grace"], now=5.0, seconds=-1.0)
    assert machine.advance(5.0) == [] and machine.done(5.0)


def test_an_ask_with_no_live_specialist_is_done_at_once() -> None:
    machine = AskMachine.start([], [], now=0.0, seconds=30.0)
    assert machine.done(0.0) and machine.missing == []


def test_an_answer_from_someone_not_asked_is_not_expected() -> None:
    machine = AskMachine.start(["ada"], ["grace"], now=0.0, seconds=10.0)
    assert not machine.expects("grace") and not machine.expects("mallory")
    machine.answered("ada", knows=True)
    assert not machine.expects("ada")  # one answer each


def test_enough_knowing_answers_end_the_wait_whether_live_or_from_memories() -> None:
    machine = AskMachine.start(["ada", "grace"], ["hopper"], now=0.0, seconds=10.0, enough=2)
    machine.answered_from_memories(knows=True)
    assert not machine.done(0.1) and machine.advance(5.0) == ["hopper"]  # memories: no stop
    machine.answered("ada", knows=False)
    assert not machine.done(5.1)
    machine.answered("hopper", knows=True)
    assert machine.done(5.2) and machine.missing == ["grace"]


def test_the_asker_finishing_ends_the_wait_at_once() -> None:
    machine = AskMachine.start(["ada"], ["grace"], now=0.0, seconds=10.0)
    machine.finish()
    assert machine.done(0.0) and machine.advance(9.0) == [] and machine.missing == ["ada"]
