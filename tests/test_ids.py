"""Ids as people see them: labels that tell apart ids made in the same minute."""

from __future__ import annotations

import pytest

from cloudbrain.ids import UnknownId, match_id, new_id, short_id


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


def test_an_id_is_found_by_any_unique_start_or_end() -> None:
    ids = [
        "01a2424d-4b59-73f4-8d8d-112f6f048583",
        "01a2424d-4b5a-7000-9c1e-0a0b0c0d0e0f",
        "01a2424d-4c00-7abc-8123-456789abcdef",
    ]
    whole = ids[1]
    for given in (whole, whole.upper(), whole.replace("-", ""), short_id(whole), "e0f"):
        assert match_id(given, ids, "ask") == whole
    with pytest.raises(UnknownId, match="matches 3 asks"):
        match_id("01a2424d", ids, "ask")  # the time prefix of ids made together
    with pytest.raises(UnknownId, match="no answer has an id like"):
        match_id("zz", ids, "answer")
    with pytest.raises(UnknownId):
        match_id("", ids, "ask")
