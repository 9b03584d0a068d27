"""Ids as people see them: labels that tell apart ids made in the same minute."""

from __future__ import annotations

from cloudbrain.ids import new_id, short_id


def test_ids_made_together_get_labels_of_their_own() -> None:
    ids = [new_id() for _ in range(1000)]  # all within the same second or so
    assert len({i[:8] for i in ids}) <= 2  # the time prefix: what a label must not be
    labels = {short_id(i) for i in ids}
    assert len(labels) == len(ids)
    assert all(
        len(label) == 8 and ids[0].replace("-", "").endswith(short_id(ids[0])) for label in labels
    )
    assert short_id("") == ""
    assert short_id("s-earlier-session") == "s-earlie"  # not a UUID: its beginning
