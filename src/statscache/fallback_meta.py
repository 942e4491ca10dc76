"""Fallback extraction of usernames and package names from fedmsg-era messages.

Used when a message names no users/packages explicitly and no fedora-messaging
schema knows its topic.  All knowledge lives in one table, ``_RULES``: for each
application (the 4th dot-part of the topic, e.g. ``bodhi`` in
``org.fedoraproject.prod.bodhi.update.comment``) a few rules, each a subtopic
prefix plus *specs* for users and for packages.  The first rule whose prefix
starts the rest of the topic (``update.comment``) wins; applications without
rules use ``_GENERIC``.

A spec names where a value sits and, optionally, how to read it::

    "update.submitter"        dotted path into the body; lists are fanned out
    "fas_usernames.*"         "*" fans out over a list's items / a dict's values
    "nvr:override.build"      converter prefix: "fedmsg-1.0-1.fc20" -> "fedmsg"
    "^1"                      the 2nd dot-part of the subtopic
    "=kernel"                 a constant

User values become lower-cased account names: ``x@fedoraproject.org``,
``Full Name <x@fedoraproject.org>`` and OpenID ``http://x.id.fedoraproject.org/``
become ``x``; other e-mail addresses, group names, placeholders and non-strings
are dropped.  Package values must look like package names.  Both functions
return what they can find and never raise on a JSON-object body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["packages", "usernames"]

_Convert = Callable[[Any], Iterator[str]]

_OPENID = re.compile(r"^(?:https?://)?([\w.-]+)\.id\.fedoraproject\.org/?$", re.IGNORECASE)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][\w-]*)")
_PACKAGE = re.compile(r"^[\w+.][\w+.~^-]*$")
_NOT_USERS = frozenset({"anonymous", "nobody", "zodbot"})  # placeholders and bots


# --------------------------------------------------------------- converters


def _user(value: Any) -> Iterator[str]:
    """Yield the account a user-ish value (name, address, user dict) denotes."""
    if isinstance(value, dict):
        value = value.get("username") or value.get("name")
    if not isinstance(value, str):
        return
    value = value.strip()
    if value.endswith(">") and "<" in value:  # "Full Name <address>"
        value = value[value.rindex("<") + 1 : -1]
    if "@" in value:
        value, _, domain = value.partition("@")
        if domain.lower() != "fedoraproject.org":
            return
    elif "id.fedoraproject.org" in value:
        match = _OPENID.match(value)
        value = match.group(1) if match else ""
    value = value.lower()
    if _USERNAME.match(value) and value not in _NOT_USERS:
        yield value


def _fas_account(value: Any) -> Iterator[str]:
    """Yield a FAS account from github2fedmsg's login map, skipping orgs."""
    if isinstance(value, str) and not value.startswith("github_org_"):
        yield from _user(value)


def _keys_as_users(value: Any) -> Iterator[str]:
    """Yield the accounts keying a mapping (meetbot's nick -> count)."""
    if isinstance(value, dict):
        for key in value:
            yield from _user(key)


def _mentions(value: Any) -> Iterator[str]:
    """Yield the ``@name`` mentions in a free text."""
    if isinstance(value, str) and "@" in value:
        for name in _MENTION.findall(value):
            yield from _user(name)


def _name(value: Any) -> Iterator[str]:
    """Yield a package name given as a string or a ``{"name": ...}`` dict."""
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str) and _PACKAGE.match(value):
        yield value


def _keys_as_names(value: Any) -> Iterator[str]:
    """Yield the package names keying a mapping."""
    if isinstance(value, dict):
        for key in value:
            yield from _name(key)


def _nvr(value: Any) -> Iterator[str]:
    """Yield the names of N-V-R builds, possibly comma or space separated."""
    if isinstance(value, dict):
        value = value.get("nvr")
    if isinstance(value, str):
        for build in value.replace(",", " ").split():
            yield from _name(build.rsplit("-", 2)[0])


def _koji_build(value: Any) -> Iterator[str]:
    """Yield the package of a ``{"type": "koji_build", "item": nvr}`` subject."""
    if isinstance(value, dict) and value.get("type") == "koji_build":
        yield from _nvr(value.get("item"))


def _fedora_package(value: Any) -> Iterator[str]:
    """Yield an anitya ``{"package_name", "distro"}`` mapping if it is Fedora's."""
    if isinstance(value, dict) and value.get("distro") in (None, "Fedora"):
        yield from _name(value.get("package_name"))


def _rpms_repo(value: Any) -> Iterator[str]:
    """Yield a dist-git commit's repo when it is in the ``rpms`` namespace."""
    if isinstance(value, dict) and value.get("namespace") in (None, "rpms"):
        yield from _name(value.get("repo"))


def _trigger(value: Any) -> Iterator[str]:
    """Yield the packages of an embedded triggering message."""
    if isinstance(value, dict) and isinstance(value.get("msg"), dict):
        topic = value.get("topic")
        if isinstance(topic, str) and topic.split(".")[3:4] != ["hotness"]:
            yield from packages(topic, value["msg"])  # (never loops)


_CONVERTERS: dict[str, _Convert] = {
    "user": _user,
    "fas": _fas_account,
    "userkeys": _keys_as_users,
    "mention": _mentions,
    "name": _name,
    "namekeys": _keys_as_names,
    "nvr": _nvr,
    "kojibuild": _koji_build,
    "fedora": _fedora_package,
    "rpms": _rpms_repo,
    "trigger": _trigger,
}


# -------------------------------------------------------------------- specs


class _Spec(NamedTuple):
    convert: _Convert
    path: tuple[str, ...]  # or ("=constant",) or ("^index",)


class _Rule(NamedTuple):
    prefix: str
    users: tuple[_Spec, ...]
    packages: tuple[_Spec, ...]


def _specs(text: str, default: str) -> tuple[_Spec, ...]:
    """Parse space-separated ``[converter:]path`` specs."""
    specs = []
    for spec in text.split():
        conv, _, path = spec.rpartition(":")
        specs.append(_Spec(_CONVERTERS[conv or default], tuple(path.split("."))))
    return tuple(specs)


def _rule(prefix: str, users: str = "", packages: str = "") -> _Rule:
    return _Rule(prefix, _specs(users, "user"), _specs(packages, "name"))


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Yield every value reached by following ``path`` from ``node``."""
    for i, step in enumerate(path):
        if step == "*":
            items = list(node.values()) if isinstance(node, dict) else node
            if isinstance(items, list):
                for item in items:
                    yield from _walk(item, path[i + 1 :])
            return
        if not isinstance(node, dict):
            return
        node = node.get(step)
    if isinstance(node, list):
        yield from node
    elif node is not None:
        yield node


def _values(spec: _Spec, body: dict[str, Any], sub: tuple[str, ...]) -> Iterable[Any]:
    head = spec.path[0]
    if head[:1] == "=":
        return (head[1:],)
    if head[:1] == "^":
        index = int(head[1:])
        return sub[index : index + 1]
    return _walk(body, spec.path)


# -------------------------------------------------------------------- rules

_COMMIT_USERS = "agent commit.username commit.agent commit.email"
_GENERIC = _rule(
    "",
    "agent user username owner submitter author fas_user userid",
    "package package_name",
)

# application -> rules, more specific subtopic prefixes first.
_RULES: dict[str, tuple[_Rule, ...]] = {
    "allpackages": (_rule("", "username"),),
    "anitya": (
        _rule(
            "project.version.update",
            "=anitya message.agent",
            "fedora:packages fedora:message.packages",
        ),
        _rule("project.map.", "message.agent", "message.new message.prev"),
        _rule("", "message.agent", "fedora:packages fedora:message.packages"),
    ),
    "askbot": (_rule("", "agent newly_mentioned_users"),),
    "bodhi": (
        _rule("updates."),  # mirror syncs
        _rule("masher.", "agent", "nvr:updates"),
        _rule(
            "",
            "agent update.submitter update.user override.submitter comment.author comment.user mention:comment.text",
            "nvr:update.title nvr:update.builds nvr:comment.update_title"
            " nvr:comment.update.title nvr:comment.update.builds"
            " nvr:override.build stack.packages",
        ),
    ),
    "bugzilla": (
        _rule(
            "",
            "bug.creator bug.assigned_to bug.cc comment.author bug.comments.*.author",
            "bug.component",
        ),
    ),
    "buildsys": (_rule("", "owner user", "name info.name rpm.name package"),),
    "ci": (_rule("", "username"),),
    "copr": (_rule("", "user"),),
    "faf": (_rule("", "", "components"),),
    "fas": (_rule("", "agent user"),),
    "fedbadges": (_rule("", "user person.nickname"),),
    "fedoratagger": (
        _rule(
            "",
            "user vote.user rating.user",
            "package tag.package vote.tag.package rating.package namekeys:tag.package namekeys:vote.tag.package",
        ),
    ),
    "fmn": (_rule("", "openid"),),
    "git": (
        _rule("receive.", _COMMIT_USERS, "^1"),  # git.receive.<package>.<branch>
        _rule("receive", _COMMIT_USERS, "rpms:commit"),
        _rule("branch.", "agent", "^1"),  # git.branch.<package>.<branch>
        _rule("pkgdb2branch", "agent", "branchedPackages unbranchedPackages"),
        _rule("", "agent", "name"),
    ),
    "github": (_rule("", "fas:fas_usernames.*"),),
    "greenwave": (_rule("", "", "kojibuild:subject"),),
    "hotness": (_rule("", "", "trigger:trigger"),),
    "infragit": (_rule("", _COMMIT_USERS),),
    "irc": (_rule("", "agent recipient"),),
    "kerneltest": (_rule("", "agent test.tester", "=kernel"),),
    "koschei": (_rule("package.", "", "name"), _rule("")),
    "mailman": (_rule("", "msg.from"),),
    "mdapi": (_rule("", "", "packages"),),
    "meetbot": (_rule("", "userkeys:attendees"),),
    "nagios": (_rule("", "service_ack_author host_ack_author"),),
    "nuancier": (_rule("", "agent candidate.submitter candidate.author"),),
    "odcs": (_rule("", "compose.owner"),),
    "pagure": (_rule("", "agent commit.email authors"),),
    "pkgdb": (
        _rule(
            "",
            "agent username acl.fas_name",
            "package package_name package_listing.package package_listings.*.package"
            " acl.packagelist.package info.pkg_name action.info.pkg_name"
            " action.package",
        ),
    ),
    "summershum": (_rule("", "original.agent", "original.name"),),
    "taskotron": (_rule("", "", "kojibuild:task"),),
    "trac": (
        _rule("git.", _COMMIT_USERS),
        _rule("", "agent author ticket.owner ticket.reporter"),
    ),
    "wiki": (_rule("", "user user_text"),),
}


@lru_cache(maxsize=2048)
def _match(topic: str) -> tuple[_Rule, tuple[str, ...]]:
    """Return the rule for ``topic`` and its subtopic parts."""
    parts = topic.split(".")
    app, sub = (parts[3], tuple(parts[4:])) if len(parts) > 3 else ("", ())
    subtopic = ".".join(sub)
    for rule in _RULES.get(app, ()):
        if subtopic.startswith(rule.prefix):
            return rule, sub
    return _GENERIC, sub


def _extract(topic: str, body: Any, users: bool) -> frozenset[str]:
    if not isinstance(topic, str) or not isinstance(body, dict):
        return frozenset()
    rule, sub = _match(topic)
    found: set[str] = set()
    for spec in rule.users if users else rule.packages:
        for value in _values(spec, body, sub):
            found.update(spec.convert(value))
    return frozenset(found)


# ---------------------------------------------------------------------- API


def usernames(topic: str, body: dict[str, Any]) -> frozenset[str]:
    """Return the Fedora account names a fedmsg-era message concerns."""
    return _extract(topic, body, users=True)


def packages(topic: str, body: dict[str, Any]) -> frozenset[str]:
    """Return the package names a fedmsg-era message concerns."""
    return _extract(topic, body, users=False)
