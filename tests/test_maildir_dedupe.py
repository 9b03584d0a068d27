"""Duplicate mail in a Maildir: found by find_duplicates, and removed by
``cloudbrain maildir dedupe`` run as a real process, on real Maildir folders."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from cloudbrain.maildir.dedupe import find_duplicates
from cloudbrain.maildir.folders import mark, put_once
from tests.processes import cli_env


def mail(body: str = "hello", subject: str = "greeting") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "bob@example.org"
    message["To"] = "alice@example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    message["Message-ID"] = "<1234@example.org>"
    message.set_content(body)
    return message


def put(box: Path, key: str, message: EmailMessage | bytes, *, age: int) -> None:
    """Deliver ``message`` as ``key``, arrived ``age`` seconds before the others of age 0."""
    assert put_once(box, key, message)
    when = 1_700_000_000 - age
    os.utime(box / "new" / key, (when, when))


def keys(box: Path) -> list[str]:
    return sorted(mailbox.Maildir(box, factory=None, create=False).keys())


def dedupe(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudbrain", "maildir", "dedupe", *args],
        env=cli_env(home, COLUMNS="500"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exact_copies_are_removed_and_the_oldest_is_kept(tmp_path: Path) -> None:
    put(tmp_path, "a-copy", mail(), age=0)
    put(tmp_path, "b-original", mail(), age=60)
    put(tmp_path, "c-copy", mail(), age=30)
    mark(tmp_path, "c-copy", "S")  # read copies count as much as unread ones
    report = find_duplicates(tmp_path, remove=True)
    assert report.mails == 3
    assert sorted(report.removed) == ["a-copy", "c-copy"]
    assert keys(tmp_path) == ["b-original"]


def test_mails_with_the_same_headers_but_another_body_are_all_kept(tmp_path: Path) -> None:
    put(tmp_path, "one", mail("the first text"), age=10)
    put(tmp_path, "two", mail("another text"), age=0)
    report = find_duplicates(tmp_path, remove=True)
    assert (report.mails, report.removed) == (2, [])
    assert keys(tmp_path) == ["one", "two"]


def test_a_dry_run_removes_nothing(tmp_path: Path) -> None:
    box = tmp_path / "box"
    put(box, "old", mail(), age=10)
    put(box, "new", mail(), age=0)
    done = dedupe(tmp_path, str(box), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "dry_run": True,
        "mails": 2,
        "unreadable": [],
        "removed": ["new"],
    }
    assert keys(box) == ["new", "old"]


def test_the_command_removes_the_copies(tmp_path: Path) -> None:
    box = tmp_path / "box"
    put(box, "old", mail(), age=10)
    put(box, "new", mail(), age=0)
    put(box, "other", mail("something else"), age=5)
    done = dedupe(tmp_path, str(box))
    assert done.returncode == 0, done.stderr
    assert "3 mails, removed 1 duplicate\n" in done.stdout  # one, in the singular
    assert keys(box) == ["old", "other"]


def test_a_folder_that_is_no_maildir_is_an_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = dedupe(tmp_path, str(plain))
    assert done.returncode == 1
    assert f"{plain} is not a Maildir (it has no cur or new folder)" in done.stderr
    assert "give the path of a Maildir folder" in done.stderr
    as_json = dedupe(tmp_path, str(tmp_path / "missing"), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"]["message"].endswith(
        "is not a Maildir (it has no cur or new folder)"
    )


def test_a_mail_with_too_few_headers_is_kept_and_reported(tmp_path: Path) -> None:
    bare = b"Subject: just a subject\n\nno From, To, Date or Message-ID\n"
    put(tmp_path, "bare", bare, age=10)
    put(tmp_path, "bare-again", bare, age=0)
    put(tmp_path, "full", mail(), age=5)
    done = dedupe(tmp_path, str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["unreadable"]) == ["bare", "bare-again"]
    assert (report["mails"], report["removed"]) == (3, [])
    assert keys(tmp_path) == ["bare", "bare-again", "full"]
    plain = dedupe(tmp_path, str(tmp_path))
    assert "2 have too few headers to compare and were kept" in plain.stdout


def raw_mail(**headers: str) -> bytes:
    """A mail as bytes, its headers exactly as given (EmailMessage would re-render them)."""
    fields = {
        "From": '"Bob Smith" <bob@example.org>',
        "To": "alice@example.org",
        "Subject": "weekly report",
        "Date": "Mon, 01 Jan 2024 10:00:00 +0000",
        "Message-ID": "<report-1@example.org>",
        **headers,
    }
    head = "".join(f"{name}: {value}\n" for name, value in fields.items())
    return f"{head}\nThe numbers are up.\n".encode()


@pytest.mark.parametrize(
    "rewritten",
    [
        {"Date": "Mon, 01 Jan 2024 11:00:00 +0100"},  # the same instant, in another zone
        {"Date": "Sun, 31 Dec 2023 23:00:00 -1100"},  # the day before there, the same instant
        {"Subject": "[team-list] weekly report"},  # a mailing list's prefix
        {"From": "Bob Smith <bob@example.org>"},  # the display name without quotes
        {"Message-ID": "report-1@example.org"},  # without its angle brackets
    ],
)
def test_copies_rewritten_on_the_way_are_found(tmp_path: Path, rewritten: dict[str, str]) -> None:
    put(tmp_path, "original", raw_mail(), age=60)
    put(tmp_path, "copy", raw_mail(**rewritten), age=0)
    report = find_duplicates(tmp_path, remove=True)
    assert (report.mails, report.unreadable, report.removed) == (2, [], ["copy"])
    assert keys(tmp_path) == ["original"]


def test_mails_without_message_id_hours_apart_are_both_kept(tmp_path: Path) -> None:
    """Two reports of a cron job: same sender, subject and text, no Message-ID, sent six hours
    apart on the same day. They are two mails, not a mail and its copy."""
    cron = b"""From: Cron Daemon <root@box.example.org>
To: root@box.example.org
Subject: Cron <root@box> /usr/local/bin/backup
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Date: Mon, 01 Jan 2024 %s +0000

backup done
"""
    put(tmp_path, "at-06", cron % b"06:00:00", age=60)
    put(tmp_path, "at-12", cron % b"12:00:00", age=0)
    put(tmp_path, "at-12-again", cron.replace(b"+0000", b"+0200") % b"14:00:00", age=0)
    report = find_duplicates(tmp_path, remove=True)
    assert (report.mails, report.unreadable, report.removed) == (3, [], ["at-12-again"])
    assert keys(tmp_path) == ["at-06", "at-12"]
