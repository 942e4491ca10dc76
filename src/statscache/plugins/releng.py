"""The release-engineering dashboard: the newest event per compose, repository, region and image.

Every key is a ``(category, category_constraint)`` pair of strings; the
:class:`~statscache.models.Latest` model keeps, per key, the newest message by
``(epoch, id)``, so an older message never replaces a newer one whatever the
arrival order. The keys, family by family (topics are matched on their tail,
after ``org.fedoraproject.<env>.``, or bare as fedora-messaging may send them):

Composes
  ``compose-<branch>_<flavour>`` / ``<step>`` — the fedmsg-era nightly compose
  scripts, ``compose.<branch>[.<step>].<phase>`` (``compose.rawhide.mash.start``,
  ``compose.branched.complete``, ``compose.23.cloudimg-build.done``). ``branch`` is
  the topic's (``rawhide``, ``branched``, ``23``, ``epelbeta``); ``flavour`` is the
  body's ``arch`` (``arm``, ``ppc``, ``s390``), else the product named by ``short`` or
  ``compose_id`` without ``Fedora-`` (``docker``, ``modular``…), else ``primary``;
  ``step`` is the step (``mash``, ``pungify``, ``rsync``, ``image``…) or, for the
  compose as a whole, the branch itself — the names the 2015 dashboard used
  (``compose-rawhide_primary`` / ``rawhide``, ``compose-rawhide_arm`` / ``mash``).

  ``pungi-compose`` / ``<stream>`` — ``pungi.compose.status.change``; the stream is
  the compose id without its date, type and respin (``Fedora-Rawhide``,
  ``Fedora-40``, ``Fedora-Cloud-40``, ``Fedora-ELN``). Updates composes (a stream
  with an ``updates`` part, e.g. ``Fedora-40-updates-testing``) go to
  ``pungi-updates`` instead. ``pungi-phase`` / ``<stream>`` (``phase.start``/``stop``),
  ``pungi-createiso`` / ``<stream>`` (``createiso.*``), ``pungi-ostree`` / ``<ref>``
  and ``pungi-fail-to-start`` / ``<config file>`` hold the other pungi events.

Repository syncs
  ``updates-fedora`` / ``updates-epel`` with ``<release>-<repo>`` (``40-updates``,
  ``7-epel-testing``) — ``bodhi.updates.<distro>.sync``, as in 2015.
  ``bodhi-compose`` / ``<repo>`` (``f29-updates-testing``) — bodhi's composer
  (``bodhi.compose.*``, ``bodhi.mashtask.*``, ``bodhi.repo.done``); run-level
  messages that name no repository (``bodhi.composer.start``…) use ``all``.

Cloud images
  ``fedimg-<action>`` / ``<region>`` — ``fedimg.image.{upload,test,publish,copy}``
  whatever their status. ``ami-<release>`` / ``<region>`` (``ami-rawhide``,
  ``ami-40``) — the newest *successful* upload, copy or publish (an AMI that
  exists). ``autocloud-image`` / ``<release>/<image>[/<type>]`` and
  ``autocloud-compose`` / ``<release>`` — autocloud's tests.
  ``atomic-twoweek`` / ``<release>`` — ``releng.atomic.twoweek.*``.

Appliances / live media
  ``artifact-<method>_<arch>`` / ``<name> (<format>, <version>)`` — koji
  ``buildsys.task.state.change`` of the top-level ``appliance``, ``livecd``,
  ``livemedia`` and ``image`` tasks that release engineering owns (one key per
  architecture of a multi-arch task), as the 2015 ``artifact-livecd_x86_64``.

A message whose body lacks what a key needs (or holds the wrong type) yields
no key; nothing here raises on odd input.

:data:`ReleaseEngineeringEventLogs.layout` tells a dashboard how to render the
keys (groups, components, status maps, staleness); :func:`claim` and
:func:`status_of` apply it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

from statscache.message import Message
from statscache.models import Latest
from statscache.plugin import LatestPlugin

DESCRIPTION = __doc__ or ""
MAX_KEY = 255  # the width of the category and constraint columns

STATES = ("ok", "running", "failed", "unknown")

# Koji accounts whose image tasks are release engineering's: ``masher`` ran the
# 2015 nightlies, ``releng`` owns the tasks pungi submits today.
ARTIFACT_OWNERS = frozenset({"masher", "releng"})
ARTIFACT_METHODS = frozenset({"appliance", "livecd", "livemedia", "image"})
ARCHES = frozenset(
    {"x86_64", "i386", "i686", "armhfp", "armv7hl", "aarch64", "ppc64le", "ppc64", "ppc", "s390x", "s390", "arm"}
)
FEDIMG_ACTIONS = frozenset({"upload", "test", "publish", "copy"})
NAMED_RELEASES = frozenset({"rawhide", "eln", "bikeshed"})

_COMPOSE_ID = re.compile(r"^(?P<stream>.+?)-(?P<date>\d{8})(?:\.(?P<type>[a-z]+))?\.(?P<respin>\d+)$")
_RELEASE = re.compile(r"^\d{1,3}(?:\.\d+)?$")
_AWS_REGION = re.compile(r"\b[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+\b")


# --- small, total helpers ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A non-empty, stripped string from a string or an integer; ``None`` for anything else."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def topic_tail(topic: str) -> list[str] | None:
    """The topic's parts after ``org.fedoraproject.<env>.`` (or all of a bare topic), lowercased.

    Topics of other organisations (``org.centos.…``, ``io.pagure.…``) give ``None``.
    """
    parts = topic.strip().lower().split(".")
    if parts[0] == "org":
        if len(parts) < 4 or parts[1] != "fedoraproject":
            return None
        return parts[3:]
    if parts[0] in ("com", "io", "net"):
        return None
    return parts


def compose_stream(compose_id: Any) -> str | None:
    """``Fedora-Rawhide-20240101.n.0`` → ``Fedora-Rawhide``; an unparsable id is kept whole."""
    text = _text(compose_id)
    if text is None:
        return None
    match = _COMPOSE_ID.match(text)
    return match["stream"] if match else text


def release_of(name: Any) -> str | None:
    """The release in a dash-separated name: ``rawhide``, ``eln``, ``40``… (lowercase)."""
    text = _text(name)
    if text is None:
        return None
    for token in text.split("-"):
        token = token.lower()
        if token in NAMED_RELEASES or _RELEASE.match(token):
            return token
    return None


def _product(name: str) -> str | None:
    """The part of a compose name before its release: ``Fedora-Cloud-40-…`` → ``Fedora-Cloud``."""
    tokens = name.split("-")
    for index, token in enumerate(tokens):
        if token.lower() in NAMED_RELEASES or _RELEASE.match(token):
            return "-".join(tokens[:index]) or None
    return None


def aws_region(destination: Any) -> str | None:
    """``EC2-eu-west-1``, ``AWS - eu-west-1 (ami-…)``, ``eu-west-1`` → ``eu-west-1``; else the text, lowercased."""
    text = _text(destination)
    if text is None:
        return None
    text = text.lower()
    match = _AWS_REGION.search(text)
    return match.group(0) if match else text


def _key(category: str, constraint: str) -> tuple[str, str]:
    return category[:MAX_KEY], constraint[:MAX_KEY]


# --- the families -------------------------------------------------------------------------------------


def _legacy_compose(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``compose.<branch>[.<step>].<phase>`` from the fedmsg-era compose scripts."""
    if len(tail) < 3 or not all(tail):
        return
    branch = tail[1]
    step = ".".join(tail[2:-1]) or branch
    flavour = _text(body.get("arch"))
    if flavour is None:
        product = _text(body.get("short"))
        if product is None:
            stream = compose_stream(body.get("compose_id"))
            product = _product(stream) if stream else None
        if product and product.lower() != "fedora":
            flavour = re.sub(r"^fedora-", "", product.lower())
    yield _key(f"compose-{branch}_{(flavour or 'primary').lower()}", step)


def _pungi(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if len(tail) < 3 or tail[1] != "compose":
        return
    event = tail[2:]
    if event == ["fail", "to", "start"]:
        config = _text(body.get("config"))
        if config:
            yield _key("pungi-fail-to-start", config)
        return
    if event == ["ostree"]:
        ref = _text(body.get("ref"))
        if ref:
            yield _key("pungi-ostree", ref)
        return
    stream = compose_stream(body.get("compose_id"))
    if stream is None:
        return
    if event == ["status", "change"]:
        updates = "updates" in stream.lower().split("-")
        yield _key("pungi-updates" if updates else "pungi-compose", stream)
    elif event[0] == "phase" and len(event) == 2:
        yield _key("pungi-phase", stream)
    elif event[0] == "createiso" and len(event) == 2:
        yield _key("pungi-createiso", stream)


def _bodhi(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if len(tail) == 4 and tail[1] == "updates" and tail[3] == "sync" and tail[2]:
        release, repo = _text(body.get("release")), _text(body.get("repo"))
        name = f"{release}-{repo}" if release and repo else release or repo
        if name:
            yield _key(f"updates-{tail[2]}", name)
        return
    composer = (
        (len(tail) >= 3 and tail[1] in ("compose", "mashtask"))
        or tail[1:] in (["masher", "start"], ["composer", "start"])
        or tail[1:] == ["repo", "done"]
    )
    if composer:
        yield _key("bodhi-compose", _text(body.get("repo")) or "all")


def _fedimg(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if len(tail) != 3 or tail[1] != "image" or tail[2] not in FEDIMG_ACTIONS:
        return
    action = tail[2]
    region = aws_region(body.get("destination"))
    if region is None:
        return
    yield _key(f"fedimg-{action}", region)
    status = _text(body.get("status"))
    exists = status.lower() == "completed" if status else action in ("publish", "copy")
    if exists and action != "test":
        release = release_of(body.get("image_name"))
        if release is None:  # the compose: {"compose_id": …} (2016) or the id itself (2018)
            compose = body.get("compose")
            compose_id = compose.get("compose_id") if isinstance(compose, dict) else compose
            release = release_of(compose_stream(compose_id) or compose_stream(body.get("compose_id")))
        if release:
            yield _key(f"ami-{release}", region)


def _autocloud(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if len(tail) != 3 or tail[1] not in ("image", "compose"):
        return
    release = _text(body.get("release"))
    if tail[1] == "compose":
        release = release or release_of(compose_stream(body.get("id") or body.get("compose_id")))
        if release:
            yield _key("autocloud-compose", release.lower())
        return
    image_name = _text(body.get("image_name"))
    if image_name is None:
        return
    image = _product(image_name) or image_name
    release = release or release_of(image_name) or release_of(compose_stream(body.get("compose_id"))) or "unknown"
    parts = [release.lower(), image]
    kind = _text(body.get("type"))
    if kind:
        parts.append(kind)
    yield _key("autocloud-image", "/".join(parts))


def _atomic_twoweek(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if len(tail) != 4 or tail[1:3] != ["atomic", "twoweek"]:
        return
    found: set[str] = set()
    # The body maps image kinds (or arches, then image kinds) to descriptions carrying "release".
    for value in body.values():
        for item in [value, *_dict(value).values()]:
            release = _text(_dict(item).get("release"))
            if release:
                found.add(release.lower())
    if found:
        yield _key("atomic-twoweek", min(found))


def _koji_task(tail: list[str], body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if tail != ["buildsys", "task", "state", "change"]:
        return
    info = _dict(body.get("info"))
    method = _text(body.get("method")) or _text(info.get("method"))
    owner = _text(body.get("owner"))
    if method is None or method.lower() not in ARTIFACT_METHODS or owner not in ARTIFACT_OWNERS:
        return
    request = info.get("request")
    request = request if isinstance(request, list) else []
    name = _text(request[0]) if request else None
    name = name or _text(body.get("srpm"))
    if name is None:
        return
    name = name.rsplit("/", 1)[-1] or name
    version = _text(request[1]) if len(request) > 1 else None
    options = request[-1] if request and isinstance(request[-1], dict) else {}
    image_format = options.get("format")
    if isinstance(image_format, list):
        image_format = ",".join(f for f in (_text(x) for x in image_format) if f) or None
    else:
        image_format = _text(image_format)
    suffix = name.rsplit("-", 1)[-1].lower()
    if suffix in ARCHES:
        arches = [suffix]
    else:
        wanted = request[2] if len(request) > 2 else None
        listed = wanted if isinstance(wanted, list) else [wanted]
        arches = sorted({a.lower() for a in (_text(x) for x in listed) if a})
        if not arches:
            arch = _text(info.get("arch"))
            arches = [arch.lower() if arch else "noarch"]
    details = ", ".join(d for d in (image_format, version.lower() if version else None) if d)
    constraint = f"{name} ({details})" if details else name
    for arch in arches:
        yield _key(f"artifact-{method.lower()}_{arch}", constraint)


_FAMILIES = {
    "compose": _legacy_compose,
    "pungi": _pungi,
    "bodhi": _bodhi,
    "fedimg": _fedimg,
    "autocloud": _autocloud,
    "releng": _atomic_twoweek,
    "buildsys": _koji_task,
}


def events(message: Message) -> list[tuple[str, str]]:
    """The keys ``message`` is the latest event of (empty for anything else)."""
    tail = topic_tail(message.topic)
    if not tail:
        return []
    family = _FAMILIES.get(tail[0])
    if family is None or not isinstance(message.body, dict):
        return []
    keys = [key for key in family(tail, message.body) if key[0] and key[1]]
    return list(dict.fromkeys(keys))


# --- the dashboard layout -----------------------------------------------------------------------------

HOUR = 3600
DAY = 24 * HOUR


def _values(**pairs: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {raw: {"state": state, "label": label} for raw, (state, label) in pairs.items()}


STATUS_MAPS: dict[str, dict[str, Any]] = {
    # Raw status = the topic's last part (start, complete, done, stop).
    "legacy-compose": {
        "source": "topic",
        "values": _values(
            start=("running", "started"),
            complete=("ok", "completed"),
            done=("ok", "done"),
            stop=("ok", "stopped"),
        ),
    },
    "pungi-status": {
        "source": "body",
        "field": "status",
        "values": _values(
            started=("running", "started"),
            finished=("ok", "finished"),
            finished_incomplete=("ok", "finished (incomplete)"),
            doomed=("failed", "doomed"),
            terminated=("failed", "terminated"),
        ),
    },
    "pungi-phase": {
        "source": "topic",
        "values": _values(start=("running", "phase started"), stop=("ok", "phase finished")),
    },
    "pungi-createiso": {
        "source": "topic",
        "values": _values(
            targets=("running", "building ISOs"),
            imagedone=("ok", "ISO done"),
            imagefail=("failed", "ISO failed"),
        ),
    },
    "pungi-ostree": {"source": "topic", "values": _values(ostree=("ok", "committed"))},
    "pungi-fail-to-start": {"source": "topic", "values": _values(start=("failed", "failed to start"))},
    "updates-sync": {"source": "topic", "values": _values(sync=("ok", "synced out"))},
    # bodhi's composer: the topic's last part; "complete" with body.success == false is a failure.
    "bodhi-compose": {
        "source": "topic",
        "failed_if_false": "success",
        "values": _values(
            start=("running", "started"),
            mashing=("running", "mashing"),
            composing=("running", "composing"),
            wait=("running", "waiting for sync"),
            done=("ok", "synced"),
            complete=("ok", "complete"),
        ),
    },
    # fedimg: body.status when present; publish and copy messages carry none and mean success.
    "fedimg": {
        "source": "body",
        "field": "status",
        "fallback": "topic",
        "values": _values(
            started=("running", "started"),
            completed=("ok", "completed"),
            failed=("failed", "failed"),
            publish=("ok", "published"),
            copy=("ok", "copied"),
        ),
    },
    "autocloud": {
        "source": "body",
        "field": "status",
        "fallback": "topic",
        "values": _values(
            queued=("running", "queued"),
            running=("running", "running"),
            success=("ok", "passed"),
            completed=("ok", "completed"),
            complete=("ok", "completed"),
            failed=("failed", "failed"),
            aborted=("failed", "aborted"),
        ),
    },
    "atomic-twoweek": {
        "source": "topic",
        "values": _values(begin=("running", "release started"), complete=("ok", "released")),
    },
    # koji task states, by name (fedora-messaging, fedmsg) or number.
    "koji-task": {
        "source": "body",
        "field": "new",
        "values": _values(
            free=("running", "queued"),
            open=("running", "building"),
            assigned=("running", "assigned"),
            closed=("ok", "completed"),
            canceled=("failed", "canceled"),
            failed=("failed", "failed"),
            **{
                "0": ("running", "queued"),
                "1": ("running", "building"),
                "2": ("ok", "completed"),
                "3": ("failed", "canceled"),
                "4": ("running", "assigned"),
                "5": ("failed", "failed"),
            },
        ),
    },
}

UNKNOWN = {"state": "unknown", "label": "unknown"}


def _component(
    ident: str,
    label: str,
    status: str,
    *,
    category: str | None = None,
    prefix: str | None = None,
    constraints: list[tuple[str, str]] | None = None,
    detail: list[str] | None = None,
    stale_after: int | None = None,
) -> dict[str, Any]:
    component: dict[str, Any] = {"id": ident, "label": label}
    if category is not None:
        component["category"] = category
    if prefix is not None:
        component["category_prefix"] = prefix
    component["constraints"] = (
        None if constraints is None else [{"value": value, "label": text} for value, text in constraints]
    )
    component["status"] = status
    component["detail"] = detail or []
    if stale_after is not None:
        component["stale_after"] = stale_after
    return component


LEGACY_STEPS = [("mash", "Mash"), ("pungify", "Pungify"), ("image", "Images"), ("rsync", "Rsync to mirrors")]

LAYOUT: dict[str, Any] = {
    "version": 1,
    "states": list(STATES),
    "rules": (
        "A row is one (category, category_constraint) key. It belongs to the first component, in layout order, "
        "whose 'category' equals its category (or whose 'category_prefix' starts it) and whose 'constraints' "
        "list holds its constraint (null: any constraint). A listed constraint that has no row yet is shown as "
        "'no event'. The row's status comes from the component's status map applied to the stored message: "
        "source 'topic' reads the topic's last dot-separated part, source 'body' reads body[field] "
        "(else, with fallback 'topic', the topic's last part); the raw value is compared lowercased; a map's "
        "'failed_if_false' names a body field whose value false means failed; unmapped values are 'unknown'. "
        "'detail' lists body fields, the first one present describes the row. A row older than its "
        "component's (else its group's) 'stale_after' seconds is stale."
    ),
    "groups": [
        {
            "id": "composes",
            "label": "Composes",
            "stale_after": 36 * HOUR,  # nightlies: one a day, a few hours long
            "components": [
                _component(
                    "pungi-rawhide",
                    "Rawhide",
                    "pungi-status",
                    category="pungi-compose",
                    constraints=[("Fedora-Rawhide", "Fedora Rawhide"), ("Fedora-ELN", "Fedora ELN")],
                    detail=["compose_id", "location"],
                ),
                _component(
                    "pungi-composes",
                    "Other composes",
                    "pungi-status",
                    category="pungi-compose",
                    detail=["compose_id", "location"],
                ),
                _component(
                    "pungi-phases",
                    "Compose phases",
                    "pungi-phase",
                    category="pungi-phase",
                    detail=["phase_name", "compose_id"],
                ),
                _component(
                    "pungi-createiso",
                    "ISO images",
                    "pungi-createiso",
                    category="pungi-createiso",
                    detail=["file", "compose_id"],
                ),
                _component(
                    "pungi-ostree",
                    "OSTree commits",
                    "pungi-ostree",
                    category="pungi-ostree",
                    detail=["commitid", "compose_id"],
                    stale_after=7 * DAY,
                ),
                _component(
                    "pungi-fail-to-start",
                    "Composes that failed to start",
                    "pungi-fail-to-start",
                    category="pungi-fail-to-start",
                    detail=["detail"],
                    stale_after=7 * DAY,
                ),
                *[
                    _component(
                        f"compose-rawhide_{flavour}",
                        f"Rawhide compose ({label}, fedmsg era)",
                        "legacy-compose",
                        category=f"compose-rawhide_{flavour}",
                        constraints=[("rawhide", "Whole compose"), *LEGACY_STEPS],
                        detail=["compose_id", "log"],
                    )
                    for flavour, label in (("primary", "primary"), ("arm", "arm"), ("ppc", "ppc"), ("s390", "s390"))
                ],
                _component(
                    "compose-branched_primary",
                    "Branched compose (primary, fedmsg era)",
                    "legacy-compose",
                    category="compose-branched_primary",
                    constraints=[("branched", "Whole compose"), *LEGACY_STEPS],
                    detail=["compose_id", "branch"],
                ),
                _component(
                    "compose-legacy",
                    "Other fedmsg-era composes",
                    "legacy-compose",
                    prefix="compose-",
                    detail=["compose_id", "branch"],
                ),
            ],
        },
        {
            "id": "repositories",
            "label": "Repository syncs",
            "stale_after": 36 * HOUR,  # bodhi pushes updates daily
            "components": [
                _component(
                    "pungi-updates",
                    "Updates composes",
                    "pungi-status",
                    category="pungi-updates",
                    detail=["compose_id", "location"],
                ),
                _component(
                    "bodhi-compose", "Bodhi composer", "bodhi-compose", category="bodhi-compose", detail=["repo"]
                ),
                _component(
                    "updates-fedora",
                    "Repo updates (Fedora)",
                    "updates-sync",
                    category="updates-fedora",
                    detail=["bytes"],
                ),
                _component(
                    "updates-epel", "Repo updates (EPEL)", "updates-sync", category="updates-epel", detail=["bytes"]
                ),
                _component(
                    "updates-other", "Repo updates (other)", "updates-sync", prefix="updates-", detail=["bytes"]
                ),
            ],
        },
        {
            "id": "cloud",
            "label": "Cloud images",
            "stale_after": 7 * DAY,  # images are uploaded per release compose, not daily per region
            "components": [
                _component("ami-rawhide", "AMIs (rawhide)", "fedimg", category="ami-rawhide", detail=["image_name"]),
                _component("ami-releases", "AMIs (releases)", "fedimg", prefix="ami-", detail=["image_name"]),
                *[
                    _component(
                        f"fedimg-{action}",
                        f"fedimg {label}",
                        "fedimg",
                        category=f"fedimg-{action}",
                        detail=["image_name"],
                    )
                    for action, label in (
                        ("upload", "uploads"),
                        ("test", "tests"),
                        ("publish", "publications"),
                        ("copy", "copies"),
                    )
                ],
                _component(
                    "autocloud-compose",
                    "Autocloud compose tests",
                    "autocloud",
                    category="autocloud-compose",
                    detail=["id", "compose_id"],
                ),
                _component(
                    "autocloud-image",
                    "Autocloud image tests",
                    "autocloud",
                    category="autocloud-image",
                    detail=["image_name", "compose_id"],
                ),
                _component(
                    "atomic-twoweek",
                    "Two-week Atomic releases",
                    "atomic-twoweek",
                    category="atomic-twoweek",
                    stale_after=21 * DAY,
                ),
            ],
        },
        {
            "id": "artifacts",
            "label": "Appliances / live media",
            "stale_after": 7 * DAY,
            "components": [
                _component(
                    "artifact-appliance_armhfp",
                    "Appliances (armhfp)",
                    "koji-task",
                    category="artifact-appliance_armhfp",
                    detail=["srpm"],
                ),
                _component(
                    "artifact-livecd_x86_64",
                    "Live CDs (x86_64)",
                    "koji-task",
                    category="artifact-livecd_x86_64",
                    detail=["srpm"],
                ),
                _component(
                    "artifact-livecd_i686",
                    "Live CDs (i686)",
                    "koji-task",
                    category="artifact-livecd_i686",
                    detail=["srpm"],
                ),
                _component(
                    "artifact-livemedia", "Live media", "koji-task", prefix="artifact-livemedia_", detail=["srpm"]
                ),
                _component(
                    "artifact-image", "Disk and cloud images", "koji-task", prefix="artifact-image_", detail=["srpm"]
                ),
                _component(
                    "artifact-other", "Other appliances and live CDs", "koji-task", prefix="artifact-", detail=["srpm"]
                ),
            ],
        },
    ],
    "status_maps": STATUS_MAPS,
}


def _matches(component: Mapping[str, Any], category: str, constraint: str) -> bool:
    if "category" in component:
        if category != component["category"]:
            return False
    else:
        prefix = component.get("category_prefix")
        if not isinstance(prefix, str) or not category.startswith(prefix):
            return False
    listed = component.get("constraints")
    return listed is None or any(item["value"] == constraint for item in listed)


def claim(category: str, constraint: str, layout: Mapping[str, Any] = LAYOUT) -> tuple[str, str] | None:
    """``(group id, component id)`` of the component that shows this key, or ``None``."""
    for group in layout["groups"]:
        for component in group["components"]:
            if _matches(component, category, constraint):
                return group["id"], component["id"]
    return None


def status_of(payload: Mapping[str, Any], status_map: Mapping[str, Any]) -> dict[str, str]:
    """``{"state", "label", "raw"}`` of a stored message (``Message.as_dict()`` shape) under a status map."""
    topic = payload.get("topic")
    last = topic.rsplit(".", 1)[-1].lower() if isinstance(topic, str) else ""
    body = _dict(payload.get("body"))
    raw: str | None
    if status_map.get("source") == "body":
        raw = _text(body.get(status_map.get("field", "status")))
        if raw is None and status_map.get("fallback") == "topic":
            raw = last
    else:
        raw = last
    raw = (raw or "").lower()
    flag = status_map.get("failed_if_false")
    if flag and body.get(flag) is False:
        return {"state": "failed", "label": "failed", "raw": raw}
    found = status_map.get("values", {}).get(raw, UNKNOWN)
    return {"state": found["state"], "label": found["label"], "raw": raw}


# --- the plugin ---------------------------------------------------------------------------------------


class ReleaseEngineeringEventLogs(LatestPlugin):
    """The newest release-engineering event per compose, repository, cloud region and image."""

    ident = "release-engineering-event-logs"
    name = "Release engineering event logs"
    summary = "The newest compose, repository sync, cloud image and live media events, by category."
    description = DESCRIPTION
    resolution = None
    # Every tracked process runs at least weekly (nightly composes, daily bodhi pushes, per-compose image
    # builds and uploads), so 30 days of history finds the newest event of every live key several times
    # over; anything silent for longer would only be shown as stale (the largest threshold is 21 days).
    # The 2015 plugins fetched 23 days of composes and a year of updates; a year of the whole bus is
    # far too much to back-fill for a dashboard of current state.
    backlog_delta = timedelta(days=30)
    model = Latest()
    layout: ClassVar[dict[str, Any]] = LAYOUT

    def events(self, message: Message) -> Iterable[tuple[str, str]]:
        return events(message)


PLUGINS = [ReleaseEngineeringEventLogs]
