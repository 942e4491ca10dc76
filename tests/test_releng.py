"""The release-engineering-event-logs plugin, in memory (the database side is tested elsewhere).

The corpus expectations are recomputed here with the test's own, deliberately
plain code (regular expressions on the topic tail), not with the plugin's helpers.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statscache.message import Message, Rejected, from_dict, parse_line
from statscache.models import Latest
from statscache.plugin import LatestPlugin, validate
from statscache.plugins import releng
from statscache.plugins.releng import ReleaseEngineeringEventLogs

CORPUS = Path(__file__).parent / "corpus"
FILES = ("fedmsg.jsonl", "fedora_messaging.jsonl")
Key = tuple[str, str]
Deltas = dict[Key, tuple[float, str, Any]]
NO_DB = settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


# --- helpers ----------------------------------------------------------------------------------------------


def load_corpus() -> list[Message]:
    messages = []
    for name in FILES:
        for line in (CORPUS / name).read_text().splitlines():
            try:
                messages.append(parse_line(line))
            except Rejected:
                continue
    return messages


MESSAGES = load_corpus()


def run(messages: Iterable[Message]) -> Deltas:
    plugin = ReleaseEngineeringEventLogs()
    for message in messages:
        plugin.process(message)
    return dict(plugin.deltas)


def keys_of(message: Message) -> list[Key]:
    return list(ReleaseEngineeringEventLogs().events(message))


def msg(topic: str, body: Any, epoch: float = 1_700_000_000.0, ident: str | None = None) -> Message:
    record = {"topic": topic, "timestamp": epoch, "msg": body}
    if ident is not None:
        record["msg_id"] = ident
    return from_dict(record)


def tail(topic: str) -> str:
    """The topic without ``org.fedoraproject.<env>.`` (the test's own, plain version)."""
    return re.sub(r"^org\.fedoraproject\.[a-z]+\.", "", topic)


def newest(pairs: Iterable[tuple[Any, Message]]) -> dict[Any, tuple[float, str]]:
    best: dict[Any, tuple[float, str]] = {}
    for key, message in pairs:
        mark = (message.epoch, message.id)
        if key not in best or mark > best[key]:
            best[key] = mark
    return best


def held(deltas: Deltas, wanted: Any) -> dict[Key, tuple[float, str]]:
    return {key: (epoch, ident) for key, (epoch, ident, _) in deltas.items() if wanted(key)}


@pytest.fixture(scope="module")
def deltas() -> Deltas:
    return run(MESSAGES)


# --- the plugin's declaration -------------------------------------------------------------------------


def test_declaration() -> None:
    cls = ReleaseEngineeringEventLogs
    validate(cls)
    assert issubclass(cls, LatestPlugin)
    assert cls.ident == "release-engineering-event-logs"
    assert isinstance(cls.model, Latest)
    assert cls.resolution is None
    assert isinstance(cls.backlog_delta, timedelta) and cls.backlog_delta >= timedelta(days=7)
    assert cls.name and cls.summary and "compose-<branch>_<flavour>" in cls.description
    assert releng.PLUGINS == [cls]
    described = cls.describe()
    assert described["kind"] == "latest"
    json.dumps(described)


# --- independent recomputation over the corpus ---------------------------------------------------------


def test_corpus_has_every_family() -> None:
    tails = [tail(m.topic) for m in MESSAGES]
    for prefix in ("compose.", "pungi.compose.", "bodhi.updates.", "bodhi.mashtask.", "fedimg.image.", "autocloud."):
        assert any(t.startswith(prefix) for t in tails), prefix


def test_legacy_composes_newest_per_branch(deltas: Deltas) -> None:
    per_branch, per_step, per_arch_step = [], [], []
    for message in MESSAGES:
        match = re.fullmatch(r"compose\.([^.]+)\.(.+)", tail(message.topic))
        if not match or not message.topic.startswith("org.fedoraproject."):
            continue
        branch, rest = match.groups()
        step = rest.rsplit(".", 1)[0] if "." in rest else branch
        per_branch.append((branch, message))
        per_step.append(((branch, step), message))
        arch = message.body.get("arch")
        if isinstance(arch, str) and arch:
            per_arch_step.append(((f"compose-{branch}_{arch}", step), message))
    assert len(per_branch) == 76

    expected = newest(per_branch)
    got: dict[str, tuple[float, str]] = {}
    for (category, _), mark in held(deltas, lambda k: k[0].startswith("compose-")).items():
        branch = category[len("compose-") :].rsplit("_", 1)[0]
        got[branch] = max(got.get(branch, mark), mark)
    assert got == expected
    assert set(expected) == {"rawhide", "branched", "23", "27", "28", "bikeshed", "epelbeta"}

    expected_steps = newest(per_step)
    got_steps: dict[tuple[str, str], tuple[float, str]] = {}
    for (category, step), mark in held(deltas, lambda k: k[0].startswith("compose-")).items():
        key = (category[len("compose-") :].rsplit("_", 1)[0], step)
        got_steps[key] = max(got_steps.get(key, mark), mark)
    assert got_steps == expected_steps

    by_arch = newest(per_arch_step)
    assert by_arch  # the corpus has arm composes
    arch_categories = {category for category, _ in by_arch}
    assert held(deltas, lambda k: k[0] in arch_categories) == by_arch


def test_updates_syncs_newest_per_release_and_repo(deltas: Deltas) -> None:
    pairs = []
    for message in MESSAGES:
        match = re.fullmatch(r"bodhi\.updates\.(\w+)\.sync", tail(message.topic))
        if match:
            body = message.body
            pairs.append(((f"updates-{match[1]}", f"{body['release']}-{body['repo']}"), message))
    assert len(pairs) == 6
    expected = newest(pairs)
    assert held(deltas, lambda k: k[0].startswith("updates-")) == expected
    assert ("updates-fedora", "30m-updates") in expected and ("updates-epel", "7-epel-testing") in expected


def test_bodhi_composer_newest_per_repo(deltas: Deltas) -> None:
    pairs = []
    for message in MESSAGES:
        if re.fullmatch(r"bodhi\.((mashtask|compose)\..+|(masher|composer)\.start|repo\.done)", tail(message.topic)):
            repo = message.body.get("repo")
            pairs.append((("bodhi-compose", repo if isinstance(repo, str) and repo else "all"), message))
    assert len(pairs) == 14  # the corpus's mashtask test messages without a timestamp are rejected
    assert held(deltas, lambda k: k[0] == "bodhi-compose") == newest(pairs)


def test_pungi_status_newest_per_stream(deltas: Deltas) -> None:
    pairs = []
    for message in MESSAGES:
        if tail(message.topic) == "pungi.compose.status.change":
            stream = re.sub(r"-\d{8}(\.[a-z]+)?\.\d+$", "", message.body["compose_id"])
            category = "pungi-updates" if "-updates" in stream else "pungi-compose"
            pairs.append(((category, stream), message))
    assert len(pairs) == 3
    expected = newest(pairs)
    assert expected.keys() == {("pungi-compose", "Fedora-24")}
    assert held(deltas, lambda k: k[0] in ("pungi-compose", "pungi-updates")) == expected


def test_fedimg_newest_per_action_and_region(deltas: Deltas) -> None:
    pairs, amis = [], []
    for message in MESSAGES:
        match = re.fullmatch(r"fedimg\.image\.(upload|test|publish|copy)", tail(message.topic))
        if not match:
            continue
        region = re.search(r"[a-z]{2}-[a-z]+-\d", message.body["destination"])
        assert region
        pairs.append(((f"fedimg-{match[1]}", region[0]), message))
        status = message.body.get("status", "completed")
        if match[1] != "test" and status == "completed":
            version = re.search(r"-(rawhide|\d+)-", message.body["image_name"])
            assert version
            amis.append(((f"ami-{version[1]}", region[0]), message))
    assert len(pairs) == 10
    assert held(deltas, lambda k: k[0].startswith("fedimg-")) == newest(pairs)
    assert held(deltas, lambda k: k[0].startswith("ami-")) == newest(amis)


def test_no_foreign_topics(deltas: Deltas) -> None:
    """Only the families' messages produce keys; CentOS CI, ODCS and PDC composes do not."""
    wanted = re.compile(r"(compose|pungi|bodhi|fedimg|autocloud|releng|buildsys)\.")
    for message in MESSAGES:
        if not wanted.match(tail(message.topic)) or message.topic.startswith("org.centos."):
            assert keys_of(message) == [], message.topic
    winners = {ident for _, ident, _ in deltas.values()}
    topics = {m.topic for m in MESSAGES if m.id in winners}
    assert not any(
        t.startswith(("org.centos.", "org.fedoraproject.stg.odcs", "org.fedoraproject.prod.pdc")) for t in topics
    )


@pytest.mark.parametrize("seed", [None, "reversed", 1, 2, 3, 4, 5])
def test_order_does_not_matter(deltas: Deltas, seed: Any) -> None:
    messages = list(MESSAGES)
    if seed == "reversed":
        messages.reverse()
    elif seed is not None:
        random.Random(seed).shuffle(messages)
    assert run(messages) == deltas


@pytest.mark.parametrize("size", [1, 7, 50])
def test_flush_boundaries_do_not_matter(deltas: Deltas, size: int) -> None:
    """Batches flushed separately and merged with the model's rule give the same result."""
    messages = list(MESSAGES)
    random.Random(size).shuffle(messages)
    plugin = ReleaseEngineeringEventLogs()
    merged: Deltas = {}
    for begin in range(0, len(messages), size):
        for message in messages[begin : begin + size]:
            plugin.process(message)
        for key, (epoch, ident, payload) in plugin.take_deltas().items():
            Latest.offer(merged, key, epoch, ident, payload)
    assert merged == deltas


def test_payload_is_the_winning_message(deltas: Deltas) -> None:
    by_id = {m.id: m for m in MESSAGES}
    for epoch, ident, payload in deltas.values():
        assert payload == by_id[ident].as_dict()
        assert payload["id"] == ident and by_id[ident].epoch == epoch
        json.dumps(payload)


# --- hand-made messages, family by family --------------------------------------------------------------

LIVEMEDIA_REQUEST = [
    "Fedora-i3-Live",
    "Rawhide",
    ["aarch64", "x86_64"],
    "f40",
    "fedora-live-i3.ks",
    {"release": "20240101.n.0", "optional_arches": ["aarch64", "x86_64"]},
]


def koji_task(method: str, request: Any, owner: str = "releng", new: Any = "OPEN") -> dict[str, Any]:
    return {
        "id": 111136700,
        "method": method,
        "owner": owner,
        "attribute": "state",
        "old": "FREE",
        "new": new,
        "srpm": request[0] if isinstance(request, list) and request else "x",
        "info": {"id": 111136700, "method": method, "arch": "noarch", "parent": None, "request": request},
    }


CASES: list[tuple[str, Any, list[Key]]] = [
    # fedmsg-era composes, the 2015 names
    (
        "org.fedoraproject.prod.compose.rawhide.mash.start",
        {"log": "start", "branch": "rawhide", "arch": ""},
        [("compose-rawhide_primary", "mash")],
    ),
    (
        "org.fedoraproject.prod.compose.rawhide.complete",
        {"branch": "rawhide"},
        [("compose-rawhide_primary", "rawhide")],
    ),
    ("org.fedoraproject.prod.compose.rawhide.rsync.complete", {"arch": "arm"}, [("compose-rawhide_arm", "rsync")]),
    ("org.fedoraproject.prod.compose.branched.complete", {"branch": "18"}, [("compose-branched_primary", "branched")]),
    (
        "org.fedoraproject.prod.compose.23.cloudimg-build.done",
        {"branch": "23"},
        [("compose-23_primary", "cloudimg-build")],
    ),
    ("org.fedoraproject.prod.compose.epelbeta.start", {"log": "start"}, [("compose-epelbeta_primary", "epelbeta")]),
    (
        "org.fedoraproject.prod.compose.28.complete",
        {"arch": "", "short": "Fedora-Docker"},
        [("compose-28_docker", "28")],
    ),
    (
        "org.fedoraproject.prod.compose.rawhide.complete",
        {"compose_id": "Fedora-Modular-Rawhide-20170821.n.0"},
        [("compose-rawhide_modular", "rawhide")],
    ),
    ("org.fedoraproject.stg.compose.rawhide.start", {}, [("compose-rawhide_primary", "rawhide")]),
    ("compose.rawhide.start", {}, [("compose-rawhide_primary", "rawhide")]),
    ("org.fedoraproject.prod.compose.rawhide", {}, []),
    ("org.centos.prod.ci.pipeline.compose.complete", {"branch": "rawhide"}, []),
    # pungi
    (
        "org.fedoraproject.prod.pungi.compose.status.change",
        {"compose_id": "Fedora-Rawhide-20240101.n.0", "status": "FINISHED"},
        [("pungi-compose", "Fedora-Rawhide")],
    ),
    (
        "pungi.compose.status.change",
        {"compose_id": "Fedora-40-20240415.0", "status": "STARTED"},
        [("pungi-compose", "Fedora-40")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.status.change",
        {"compose_id": "Fedora-Cloud-40-20240101.0"},
        [("pungi-compose", "Fedora-Cloud-40")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.status.change",
        {"compose_id": "Fedora-ELN-20240101.n.2"},
        [("pungi-compose", "Fedora-ELN")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.status.change",
        {"compose_id": "Fedora-40-updates-testing-20240101.0", "status": "FINISHED_INCOMPLETE"},
        [("pungi-updates", "Fedora-40-updates-testing")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.status.change",
        {"compose_id": "Fedora-Epel-9-updates-20240101.0"},
        [("pungi-updates", "Fedora-Epel-9-updates")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.phase.stop",
        {"compose_id": "Fedora-Rawhide-20240101.n.0", "phase_name": "gather"},
        [("pungi-phase", "Fedora-Rawhide")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.createiso.imagefail",
        {"compose_id": "Fedora-40-20240101.n.0"},
        [("pungi-createiso", "Fedora-40")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.ostree",
        {"ref": "fedora/rawhide/x86_64/silverblue"},
        [("pungi-ostree", "fedora/rawhide/x86_64/silverblue")],
    ),
    (
        "org.fedoraproject.prod.pungi.compose.fail.to.start",
        {"config": "fedora.conf"},
        [("pungi-fail-to-start", "fedora.conf")],
    ),
    ("org.fedoraproject.prod.pungi.compose.status.change", {"status": "STARTED"}, []),
    # bodhi
    (
        "org.fedoraproject.prod.bodhi.updates.fedora.sync",
        {"repo": "updates", "release": "40"},
        [("updates-fedora", "40-updates")],
    ),
    (
        "org.fedoraproject.prod.bodhi.updates.epel.sync",
        {"repo": "epel-testing", "release": 9},
        [("updates-epel", "9-epel-testing")],
    ),
    (
        "org.fedoraproject.prod.bodhi.compose.complete",
        {"repo": "f40-updates", "success": False},
        [("bodhi-compose", "f40-updates")],
    ),
    (
        "org.fedoraproject.prod.bodhi.mashtask.sync.wait",
        {"repo": "f29-updates-testing"},
        [("bodhi-compose", "f29-updates-testing")],
    ),
    (
        "org.fedoraproject.prod.bodhi.repo.done",
        {"repo": "f40-updates", "path": "/mnt/x"},
        [("bodhi-compose", "f40-updates")],
    ),
    ("org.fedoraproject.prod.bodhi.composer.start", {"composes": []}, [("bodhi-compose", "all")]),
    ("org.fedoraproject.prod.bodhi.update.comment", {"repo": "x"}, []),
    # cloud images
    (
        "org.fedoraproject.prod.fedimg.image.upload",
        {
            "image_name": "Fedora-Cloud-Base-40-20240101.0.x86_64",
            "destination": "AWS - us-east-1",
            "status": "completed",
        },
        [("fedimg-upload", "us-east-1"), ("ami-40", "us-east-1")],
    ),
    (
        "org.fedoraproject.prod.fedimg.image.upload",
        {
            "image_name": "fedora-cloud-base-rawhide-20140604.x86_64",
            "destination": "EC2 (eu-west-1)",
            "status": "started",
        },
        [("fedimg-upload", "eu-west-1")],
    ),
    (
        "org.fedoraproject.prod.fedimg.image.test",
        {
            "image_name": "fedora-cloud-base-rawhide-20140604.x86_64",
            "destination": "EC2-eu-west-1",
            "status": "completed",
        },
        [("fedimg-test", "eu-west-1")],
    ),
    (
        "org.fedoraproject.prod.fedimg.image.copy",
        {"image_name": "Fedora-Atomic-27-20180507.0.x86_64", "destination": "us-west-2"},
        [("fedimg-copy", "us-west-2"), ("ami-27", "us-west-2")],
    ),
    ("org.fedoraproject.prod.fedimg.image.upload", {"image_name": "Fedora-Cloud-Base-40", "status": "completed"}, []),
    (
        "org.fedoraproject.prod.autocloud.image.success",
        {"image_name": "Fedora-Cloud-Base-24-20160420.n.0", "release": "24", "type": "qcow2", "status": "success"},
        [("autocloud-image", "24/Fedora-Cloud-Base/qcow2")],
    ),
    (
        "org.fedoraproject.prod.autocloud.image.running",
        {"image_name": "Fedora-Cloud-Base", "release": "rawhide"},
        [("autocloud-image", "rawhide/Fedora-Cloud-Base")],
    ),
    (
        "org.fedoraproject.prod.autocloud.compose.complete",
        {"id": "Fedora-24-20160419.n.1", "status": "completed"},
        [("autocloud-compose", "24")],
    ),
    (
        "org.fedoraproject.prod.releng.atomic.twoweek.complete",
        {"atomic_qcow2": {"release": "22", "image_name": "Fedora-Cloud-Atomic-22-20151015.x86_64.qcow2"}},
        [("atomic-twoweek", "22")],
    ),
    (
        "org.fedoraproject.prod.releng.atomic.twoweek.begin",
        {"aarch64": {"atomic_qcow2": {"release": "28"}}, "x86_64": {"atomic_raw": {"release": "28"}}},
        [("atomic-twoweek", "28")],
    ),
    # appliances and live media
    (
        "org.fedoraproject.prod.buildsys.task.state.change",
        koji_task("livemedia", LIVEMEDIA_REQUEST),
        [
            ("artifact-livemedia_aarch64", "Fedora-i3-Live (rawhide)"),
            ("artifact-livemedia_x86_64", "Fedora-i3-Live (rawhide)"),
        ],
    ),
    (
        "org.fedoraproject.prod.buildsys.task.state.change",
        koji_task(
            "livecd",
            ["Fedora-Live-Workstation-x86_64", "rawhide", "x86_64", "f23", "ks", {"release": "1"}],
            owner="masher",
        ),
        [("artifact-livecd_x86_64", "Fedora-Live-Workstation-x86_64 (rawhide)")],
    ),
    (
        "org.fedoraproject.prod.buildsys.task.state.change",
        koji_task(
            "appliance", ["Fedora-Minimal-armhfp", "23", "armhfp", "f23", "ks", {"format": "raw"}], owner="masher"
        ),
        [("artifact-appliance_armhfp", "Fedora-Minimal-armhfp (raw, 23)")],
    ),
    (
        "org.fedoraproject.prod.buildsys.task.state.change",
        koji_task("image", ["Fedora-Cloud-Base", "40", ["x86_64"], "f40", "url", {"format": ["qcow2", "raw-xz"]}]),
        [("artifact-image_x86_64", "Fedora-Cloud-Base (qcow2,raw-xz, 40)")],
    ),
    (
        "org.fedoraproject.prod.buildsys.task.state.change",
        koji_task("livemedia", LIVEMEDIA_REQUEST, owner="someone"),
        [],
    ),
    ("org.fedoraproject.prod.buildsys.task.state.change", koji_task("build", ["x.src.rpm", "f40", {}]), []),
]


@pytest.mark.parametrize(("topic", "body", "expected"), CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_keys(topic: str, body: Any, expected: list[Key]) -> None:
    assert keys_of(msg(topic, body)) == expected


@pytest.mark.parametrize(("topic", "body", "expected"), [c for c in CASES if c[2]], ids=lambda v: str(v)[:40])
def test_older_never_replaces_newer(topic: str, body: Any, expected: list[Key]) -> None:
    new = msg(topic, body, epoch=2000.0, ident="2024-new")
    old = msg(topic, dict(body, marker="old"), epoch=1000.0, ident="2024-zzz-old")  # larger id, older time
    for order in ([new, old], [old, new]):
        result = run(order)
        assert set(result) == set(expected)
        assert all(ident == "2024-new" for _, ident, _ in result.values())
    # equal times: the larger id wins, whatever the order
    first, second = msg(topic, body, 1000.0, "2024-a"), msg(topic, body, 1000.0, "2024-b")
    assert run([first, second]) == run([second, first])
    assert {ident for _, ident, _ in run([second, first]).values()} == {"2024-b"}


def test_the_key_and_its_status_together() -> None:
    """What a dashboard shows: the key's row and the status its component's map gives."""
    shown = [
        (
            "org.fedoraproject.prod.pungi.compose.status.change",
            {"compose_id": "Fedora-Rawhide-20240101.n.0", "status": "DOOMED"},
            "failed",
        ),
        (
            "org.fedoraproject.prod.pungi.compose.status.change",
            {"compose_id": "Fedora-40-20240101.n.0", "status": "FINISHED_INCOMPLETE"},
            "ok",
        ),
        (
            "org.fedoraproject.prod.pungi.compose.status.change",
            {"compose_id": "Fedora-40-20240101.n.0", "status": "WHATEVER"},
            "unknown",
        ),
        ("org.fedoraproject.prod.compose.rawhide.mash.start", {}, "running"),
        ("org.fedoraproject.prod.compose.rawhide.complete", {}, "ok"),
        ("org.fedoraproject.prod.bodhi.compose.complete", {"repo": "f40-updates", "success": False}, "failed"),
        ("org.fedoraproject.prod.bodhi.compose.complete", {"repo": "f40-updates", "success": True}, "ok"),
        ("org.fedoraproject.prod.bodhi.compose.sync.wait", {"repo": "f40-updates"}, "running"),
        ("org.fedoraproject.prod.bodhi.updates.fedora.sync", {"repo": "updates", "release": "40"}, "ok"),
        (
            "org.fedoraproject.prod.fedimg.image.upload",
            {"image_name": "Fedora-Cloud-Base-40-1.0.x86_64", "destination": "us-east-1", "status": "failed"},
            "failed",
        ),
        (
            "org.fedoraproject.prod.fedimg.image.publish",
            {"image_name": "Fedora-Cloud-Base-40-1.0.x86_64", "destination": "us-east-1"},
            "ok",
        ),
        (
            "org.fedoraproject.prod.autocloud.image.aborted",
            {"image_name": "Fedora-Cloud-Base", "release": "24"},
            "failed",
        ),
        (
            "org.fedoraproject.prod.buildsys.task.state.change",
            koji_task("livemedia", LIVEMEDIA_REQUEST, new="CLOSED"),
            "ok",
        ),
        (
            "org.fedoraproject.prod.buildsys.task.state.change",
            koji_task("livemedia", LIVEMEDIA_REQUEST, new=5),
            "failed",
        ),
        ("org.fedoraproject.prod.releng.atomic.twoweek.begin", {"x": {"release": "28"}}, "running"),
    ]
    layout = ReleaseEngineeringEventLogs.layout
    components = {c["id"]: c for g in layout["groups"] for c in g["components"]}
    for topic, body, state in shown:
        message = msg(topic, body)
        keys = keys_of(message)
        assert keys, topic
        for key in keys:
            owner = releng.claim(*key)
            assert owner is not None, key
            status_map = layout["status_maps"][components[owner[1]]["status"]]
            assert releng.status_of(message.as_dict(), status_map)["state"] == state, (topic, body)


# --- odd input -----------------------------------------------------------------------------------------

TOPICS = sorted(
    {c[0] for c in CASES}
    | {
        "org.fedoraproject.prod.pungi.compose.phase.start",
        "org.fedoraproject.prod.pungi.compose.createiso.targets",
        "org.fedoraproject.prod.fedimg.image.publish",
        "org.fedoraproject.prod.autocloud.compose.running",
        "org.fedoraproject.prod.bodhi.masher.start",
        "org.fedoraproject.prod.bodhi.mashtask.complete",
        "org.fedoraproject.prod.releng.atomic.twoweek",
        "org.fedoraproject.prod",
        "org.fedoraproject.prod.compose..start",
        "compose",
        "pungi",
        "buildsys.task.state.change",
        "ORG.FEDORAPROJECT.PROD.COMPOSE.RAWHIDE.START",
    }
)

ODD_BODIES: list[Any] = [
    {},
    {"repo": None, "release": None},
    {"repo": 5, "release": ["x"]},
    {"repo": "", "release": "  "},
    {"compose_id": 12},
    {"compose_id": {"a": 1}, "status": 3},
    {"compose_id": "", "ref": 7, "config": None},
    {"compose_id": "-20240101.n.0"},
    {"destination": None, "image_name": 5, "status": None},
    {"destination": ["us-east-1"], "image_name": "Fedora-40", "status": "completed"},
    {"destination": "us-east-1", "image_name": None, "compose": ["x"], "status": "completed"},
    {"destination": "us-east-1", "compose": {"compose_id": 4}, "status": True},
    {"info": "x", "method": "livemedia", "owner": "releng"},
    {"info": {"request": "string"}, "method": "image", "owner": "releng"},
    {"info": {"request": []}, "method": "image", "owner": "releng", "srpm": None},
    {"info": {"request": [None, None, None]}, "method": "livecd", "owner": "releng"},
    {
        "info": {"request": [{"a": 1}, 40, [None, 3, "x86_64"], None, None, {"format": [None, 1]}]},
        "method": "image",
        "owner": "releng",
    },
    {"info": {"request": ["/", "", "", "", "", {"format": {"x": 1}}]}, "method": "LiveCD", "owner": "releng"},
    {"info": None, "method": ["livemedia"], "owner": {"name": "releng"}},
    {"arch": 5, "short": [], "compose_id": None},
    {"arch": None, "short": "Fedora"},
    {"atomic_qcow2": "x", "aarch64": {"k": [1]}, "x86_64": {"k": {"release": 3.5}}},
    {"image_name": "", "release": {}, "type": 1},
    {"id": None, "compose_id": 3, "release": None},
    {"success": "no", "updates": None},
]


@pytest.mark.parametrize("topic", TOPICS)
def test_odd_bodies_never_raise(topic: str) -> None:
    plugin = ReleaseEngineeringEventLogs()
    for number, body in enumerate(ODD_BODIES):
        message = msg(topic, body, epoch=1000.0 + number)
        for key in plugin.events(message):
            assert_key(key)
        plugin.process(message)


def assert_key(key: Any) -> None:
    assert isinstance(key, tuple) and len(key) == 2
    for part in key:
        assert isinstance(part, str) and 0 < len(part) <= 255


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "repo",
        "release",
        "compose_id",
        "status",
        "destination",
        "image_name",
        "compose",
        "info",
        "method",
        "owner",
        "srpm",
        "arch",
        "short",
        "ref",
        "config",
        "type",
        "id",
        "success",
        "request",
        "atomic_qcow2",
        "new",
    ]
)


@NO_DB
@given(topic=st.sampled_from(TOPICS), body=st.dictionaries(FIELDS, JSON, max_size=8))
def test_arbitrary_bodies_never_raise(topic: str, body: dict[str, Any]) -> None:
    message = msg(topic, body)
    for key in keys_of(message):
        assert_key(key)
    layout = ReleaseEngineeringEventLogs.layout
    for status_map in layout["status_maps"].values():
        assert releng.status_of(message.as_dict(), status_map)["state"] in layout["states"]


@NO_DB
@given(data=st.data())
def test_mutated_corpus_bodies_never_raise(data: st.DataObject) -> None:
    interesting = [m for m in MESSAGES if keys_of(m)]
    original = data.draw(st.sampled_from(interesting))
    body = copy.deepcopy(original.body)
    for _ in range(data.draw(st.integers(1, 4))):
        holder: Any = body
        while isinstance(holder, dict) and holder and data.draw(st.booleans()):
            child = holder[data.draw(st.sampled_from(sorted(holder)))]
            if not isinstance(child, dict) or not child:
                break
            holder = child
        if isinstance(holder, dict) and holder:
            holder[data.draw(st.sampled_from(sorted(holder)))] = data.draw(JSON)
    for key in keys_of(msg(original.topic, body)):
        assert_key(key)


def test_long_values_are_cut_to_the_column_width() -> None:
    keys = keys_of(msg("org.fedoraproject.prod.bodhi.compose.complete", {"repo": "r" * 600}))
    assert keys == [("bodhi-compose", "r" * 255)]


# --- the layout ----------------------------------------------------------------------------------------


def sample_messages() -> list[Message]:
    """Realistic messages for the components the corpus does not reach (each listed constraint, too)."""
    samples = [msg(topic, body) for topic, body, keys in CASES if keys]
    for branch in ("rawhide", "branched"):
        for arch in ("", "arm", "ppc", "s390"):
            for step in ("", "mash.", "pungify.", "image.", "rsync."):
                samples.append(msg(f"org.fedoraproject.prod.compose.{branch}.{step}start", {"arch": arch}))
    for region in ("us-east-1", "eu-west-1"):
        samples.append(
            msg(
                "org.fedoraproject.prod.fedimg.image.upload",
                {
                    "image_name": "Fedora-Cloud-Base-rawhide-20240101.n.0.x86_64",
                    "destination": region,
                    "status": "completed",
                },
            )
        )
    # bodhi has only ever synced fedora and epel; another distro still has a place on the dashboard
    samples.append(msg("org.fedoraproject.prod.bodhi.updates.centos.sync", {"repo": "updates", "release": "9"}))
    for name, arch in (("Fedora-Live-Workstation", "i686"), ("Fedora-Live-KDE", "x86_64")):
        samples.append(
            msg(
                "org.fedoraproject.prod.buildsys.task.state.change",
                koji_task("livecd", [f"{name}-{arch}", "rawhide", arch, "f40", "ks", {}]),
            )
        )
    samples.append(
        msg(
            "org.fedoraproject.prod.buildsys.task.state.change",
            koji_task("appliance", ["Fedora-Server", "40", "x86_64", "f40", "ks", {"format": "qcow2"}]),
        )
    )
    return samples


def components() -> list[dict[str, Any]]:
    return [c for g in ReleaseEngineeringEventLogs.layout["groups"] for c in g["components"]]


def test_layout_is_json() -> None:
    layout = ReleaseEngineeringEventLogs.layout
    assert json.loads(json.dumps(layout)) == layout
    assert [g["label"] for g in layout["groups"]] == [
        "Composes",
        "Repository syncs",
        "Cloud images",
        "Appliances / live media",
    ]
    assert layout["states"] == ["ok", "running", "failed", "unknown"]


def test_layout_is_well_formed() -> None:
    layout = ReleaseEngineeringEventLogs.layout
    ids = [c["id"] for c in components()]
    assert len(ids) == len(set(ids))
    for group in layout["groups"]:
        assert isinstance(group["stale_after"], int) and group["stale_after"] > 0
        assert group["id"] and group["label"] and group["components"]
    for component in components():
        assert isinstance(component["label"], str) and component["label"]
        assert ("category" in component) != ("category_prefix" in component), component["id"]
        assert component["status"] in layout["status_maps"]
        assert isinstance(component["detail"], list)
        assert component.get("stale_after", 1) > 0
        listed = component["constraints"]
        assert listed is None or all(set(c) == {"value", "label"} and c["value"] and c["label"] for c in listed)
    for status_map in layout["status_maps"].values():
        assert status_map["source"] in ("topic", "body")
        assert status_map["source"] == "topic" or status_map["field"]
        for raw, value in status_map["values"].items():
            assert raw == raw.lower()
            assert value["state"] in layout["states"] and value["label"]


def owner_of(key: Key) -> str | None:
    claimed = releng.claim(*key)
    return claimed[1] if claimed else None


def test_layout_names_only_keys_the_plugin_produces(deltas: Deltas) -> None:
    corpus_keys = set(deltas)
    all_keys = corpus_keys | set(run(sample_messages()))
    for component in components():
        assert any(owner_of(key) == component["id"] for key in all_keys), f"no key reaches {component['id']}"
        category = component.get("category")
        for listed in component["constraints"] or []:
            assert (category, listed["value"]) in all_keys, (component["id"], listed)
    # the corpus alone reaches these, so the names are not only the test's own samples
    reached = {owner_of(key) for key in corpus_keys}
    assert {
        "compose-rawhide_primary",
        "compose-rawhide_arm",
        "compose-branched_primary",
        "pungi-composes",
        "updates-fedora",
        "updates-epel",
        "bodhi-compose",
        "fedimg-upload",
        "ami-rawhide",
    } <= reached


def test_every_produced_key_is_shown(deltas: Deltas) -> None:
    for key in set(deltas) | set(run(sample_messages())):
        assert releng.claim(*key) is not None, key


def test_claim_prefers_the_first_component() -> None:
    assert releng.claim("pungi-compose", "Fedora-Rawhide") == ("composes", "pungi-rawhide")
    assert releng.claim("pungi-compose", "Fedora-40") == ("composes", "pungi-composes")
    assert releng.claim("compose-rawhide_primary", "mash") == ("composes", "compose-rawhide_primary")
    assert releng.claim("compose-rawhide_primary", "odd-step") == ("composes", "compose-legacy")
    assert releng.claim("updates-centos", "9-updates") == ("repositories", "updates-other")
    assert releng.claim("ami-rawhide", "us-east-1") == ("cloud", "ami-rawhide")
    assert releng.claim("ami-40", "us-east-1") == ("cloud", "ami-releases")
    assert releng.claim("artifact-livemedia_x86_64", "x") == ("artifacts", "artifact-livemedia")
    assert releng.claim("nothing", "x") is None
