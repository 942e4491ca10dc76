"""Tests for statscache.fallback_meta, the fedmsg-era users/packages extractor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statscache import fallback_meta

CORPUS = Path(__file__).parent / "corpus"
EXPECTATIONS = CORPUS / "fedmsg_meta_expectations.jsonl"

# What fedmsg.meta derives for 555 messages, matched as exact sets.  Reached:
# usernames 543/555 (0.978), packages 554/555 (0.998).  The misses: e-mail or
# nick -> account mappings the reference takes from a fixed table (10), a copr
# message the reference itself fails on, the owner of a build that triggered a
# hotness message, and mdapi capability names taken for packages.
MIN_USERNAME_AGREEMENT = 0.978
MIN_PACKAGE_AGREEMENT = 0.998


def _expectations() -> list[dict[str, Any]]:
    with EXPECTATIONS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _agreement(field: str, extract: Callable[[str, dict[str, Any]], frozenset[str]]) -> float:
    rows = _expectations()
    hits: int = sum(
        extract(row["message"]["topic"], row["message"]["msg"]) == frozenset(row[field] or ()) for row in rows
    )
    return hits / len(rows)


def test_expectations_file_is_complete() -> None:
    assert len(_expectations()) == 555


def test_username_agreement_with_fedmsg_meta() -> None:
    agreement = _agreement("usernames", fallback_meta.usernames)
    assert agreement >= MIN_USERNAME_AGREEMENT


def test_package_agreement_with_fedmsg_meta() -> None:
    agreement = _agreement("packages", fallback_meta.packages)
    assert agreement >= MIN_PACKAGE_AGREEMENT


# ------------------------------------------------------------- hand-made bodies


def test_bodhi_comment() -> None:
    topic = "org.fedoraproject.prod.bodhi.update.comment"
    body = {
        "comment": {
            "author": "alice",
            "text": "Works for me, thanks @Bob!",
            "karma": 1,
            "update_title": "python-requests-2.6.0-1.fc22,python-urllib3-1.10.2-1.fc22",
        },
        "agent": "alice",
    }
    assert fallback_meta.usernames(topic, body) == {"alice", "bob"}
    assert fallback_meta.packages(topic, body) == {"python-requests", "python-urllib3"}


def test_bodhi_comment_on_embedded_update() -> None:
    topic = "org.fedoraproject.prod.bodhi.update.comment"
    body = {
        "comment": {
            "user": {"name": "carol"},
            "text": "karma +1",
            "update": {"title": "", "builds": [{"nvr": "vim-8.2.1-1.fc33"}]},
        }
    }
    assert fallback_meta.usernames(topic, body) == {"carol"}
    assert fallback_meta.packages(topic, body) == {"vim"}


def test_koji_build_state_change() -> None:
    topic = "org.fedoraproject.prod.buildsys.build.state.change"
    body = {
        "build_id": 1,
        "name": "gnome-shell",
        "version": "3.38.1",
        "release": "1.fc33",
        "owner": "dave",
        "new": 1,
        "old": 0,
        "instance": "primary",
    }
    assert fallback_meta.usernames(topic, body) == {"dave"}
    assert fallback_meta.packages(topic, body) == {"gnome-shell"}


def test_koji_build_by_a_service_principal_has_no_user() -> None:
    topic = "org.fedoraproject.prod.buildsys.build.state.change"
    body = {"name": "python-py", "owner": "mbs/mbs.fedoraproject.org"}
    assert fallback_meta.usernames(topic, body) == frozenset()
    assert fallback_meta.packages(topic, body) == {"python-py"}


def test_git_receive_on_dist_git() -> None:
    topic = "org.fedoraproject.prod.git.receive"
    body = {
        "commit": {
            "username": "erin",
            "email": "erin@example.com",
            "name": "Erin Example",
            "repo": "nethack",
            "namespace": "rpms",
            "branch": "f33",
            "summary": "Update to 3.6.6",
        }
    }
    assert fallback_meta.usernames(topic, body) == {"erin"}
    assert fallback_meta.packages(topic, body) == {"nethack"}


def test_git_receive_outside_rpms_namespace_names_no_package() -> None:
    topic = "org.fedoraproject.prod.git.receive"
    body = {"commit": {"username": "erin", "repo": "nethack", "namespace": "tests"}}
    assert fallback_meta.packages(topic, body) == frozenset()


def test_legacy_git_receive_topic_carries_the_package() -> None:
    topic = "org.fedoraproject.prod.git.receive.valgrind.master"
    body = {"commit": {"email": "frank@fedoraproject.org", "branch": "master"}}
    assert fallback_meta.usernames(topic, body) == {"frank"}
    assert fallback_meta.packages(topic, body) == {"valgrind"}


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("grace", {"grace"}),
        ("Grace", {"grace"}),
        ("grace@fedoraproject.org", {"grace"}),
        ("Grace Hopper <grace@fedoraproject.org>", {"grace"}),
        ("http://grace.id.fedoraproject.org/", {"grace"}),
        ("grace@example.org", set()),
        ("@packager-sig", set()),
        ("anonymous", set()),
        (["grace", "heidi"], {"grace", "heidi"}),
        (42, set()),
        (None, set()),
    ],
)
def test_username_normalisation(agent: Any, expected: set[str]) -> None:
    topic = "org.release-monitoring.prod.anitya.project.edit"
    assert fallback_meta.usernames(topic, {"message": {"agent": agent}}) == expected


def test_github_uses_fas_names_but_not_organisations() -> None:
    topic = "org.fedoraproject.prod.github.push"
    body = {"fas_usernames": {"ivan-gh": "ivan", "fedora-infra": "github_org_fedora-infra"}}
    assert fallback_meta.usernames(topic, body) == {"ivan"}


def test_hotness_reads_packages_of_its_trigger() -> None:
    topic = "org.fedoraproject.prod.hotness.update.bug.followup"
    body = {
        "trigger": {
            "topic": "org.fedoraproject.prod.buildsys.build.state.change",
            "msg": {"name": "gd", "owner": "judy"},
        }
    }
    assert fallback_meta.packages(topic, body) == {"gd"}


def test_unknown_application_uses_generic_keys() -> None:
    topic = "org.fedoraproject.prod.newapp.thing.happened"
    body = {"agent": "kim", "package": "bash", "unrelated": {"user": "nope"}}
    assert fallback_meta.usernames(topic, body) == {"kim"}
    assert fallback_meta.packages(topic, body) == {"bash"}


# ------------------------------------------------------------------ robustness


def _keys_of(node: Any, depth: int = 0) -> Iterator[str]:
    if depth < 4 and isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys_of(value, depth + 1)
    elif depth < 4 and isinstance(node, list):
        for item in node[:3]:
            yield from _keys_of(item, depth + 1)


# Bodies are built from the keys and topics of real messages, so that the rules'
# deep paths meet values of every wrong type.
_MESSAGES = [row["message"] for row in _expectations()]
_KEYS = sorted({key for message in _MESSAGES for key in _keys_of(message["msg"])})
_TOPICS = sorted({message["topic"] for message in _MESSAGES})

_key = st.sampled_from(_KEYS) | st.text(max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.sampled_from(_KEYS),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_key, children, max_size=5),
    max_leaves=25,
)
_bodies = st.dictionaries(_key, _json, max_size=6)
_topic = st.sampled_from(_TOPICS)
_topics = _topic | st.tuples(_topic, st.text(max_size=12)).map("".join) | st.text(max_size=40)


def _check(result: Any) -> None:
    assert isinstance(result, frozenset)
    assert all(isinstance(item, str) and item for item in result)


@settings(max_examples=400, deadline=None)
@given(topic=_topics, body=_bodies)
def test_arbitrary_json_bodies_never_raise(topic: str, body: dict[str, Any]) -> None:
    _check(fallback_meta.usernames(topic, body))
    _check(fallback_meta.packages(topic, body))
    body["trigger"] = {"topic": topic, "msg": body}  # self-referencing trigger
    _check(fallback_meta.packages(topic, body))


@pytest.mark.parametrize("name", ["fedmsg.jsonl", "fedmsg_variants.jsonl", "fedora_messaging_partial.jsonl"])
def test_whole_corpus_never_raises(name: str) -> None:
    with (CORPUS / name).open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            topic = row.get("topic") or ""
            body = row.get("msg", row.get("body"))
            if isinstance(body, dict):
                _check(fallback_meta.usernames(topic, body))
                _check(fallback_meta.packages(topic, body))
