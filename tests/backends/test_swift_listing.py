"""Grouping a Swift container's listing into what Glance stored (no gateway needed): a large object's
segments go with their manifest, lost segments are a piece of their own, an SLO's segments are claimed
by their manifest wherever they are listed, and pages may cut a group anywhere."""

from __future__ import annotations

import uuid
from typing import Any

from scrubctl.backends.swift.listing import (
    EMPTY_ETAG,
    OBJECT,
    SEGMENTS,
    ContainerGrouper,
    Group,
    SloIndex,
    release_held,
    slo_segment_paths,
)


def entry(name: str, size: int = 10, etag: str = "0" * 32, when: str = "2026-01-01T00:00:00.000Z") -> dict[str, Any]:
    return {"name": name, "bytes": size, "hash": etag, "last_modified": when}


def group(pages: list[list[dict[str, Any]]], container: str = "glance") -> tuple[list[Group], SloIndex]:
    slo, held = SloIndex(), []
    grouper = ContainerGrouper(container, slo, held)
    found = [item for page in pages for item in grouper.feed(page)]
    found += list(grouper.finish())
    found += list(release_held(held, slo))
    return found, slo


def test_segments_go_with_their_manifest_and_lost_ones_stand_alone_across_pages() -> None:
    dlo, lost, plain = sorted(str(uuid.uuid4()) for _ in range(3))
    names = [entry(dlo, 0, EMPTY_ETAG)] + [entry(f"{dlo}-{index:05d}", 100) for index in range(1, 4)]
    names += [entry(f"{lost}-{index:05d}", 50, when=f"2026-01-0{index}T00:00:00Z") for index in range(1, 3)]
    names += [entry(plain, 7)]
    names.sort(key=lambda item: item["name"])
    for cut in range(len(names) + 1):  # a page may end anywhere
        found, _slo = group([names[:cut], names[cut:]])
        shown = {(item.name, item.kind, item.segments, item.bytes) for item in found}
        assert shown == {(dlo, OBJECT, 3, 300), (lost, SEGMENTS, 2, 100), (plain, OBJECT, 0, 7)}, cut
    lost_group = next(item for item in found if item.kind == SEGMENTS)
    assert lost_group.newest == "2026-01-02T00:00:00Z"


def test_an_image_id_ending_in_digits_is_an_object_not_a_segment() -> None:
    image = "4f9c2a1e-0b3d-4c5e-8f70-123456789012"
    found, _slo = group([[entry(image)]])
    assert [(item.name, item.kind) for item in found] == [(image, OBJECT)]


def test_a_name_between_a_manifest_and_its_segments_keeps_them_together() -> None:
    image = str(uuid.uuid4())
    found, _slo = group([[entry(image, 0, EMPTY_ETAG), entry(f"{image}+x"), entry(f"{image}-00001", 5)]])
    assert {(item.name, item.kind) for item in found} == {(image, OBJECT), (f"{image}+x", OBJECT)}


def test_slo_segments_are_claimed_by_their_manifest_wherever_they_are_listed() -> None:
    image = str(uuid.uuid4())
    manifest = entry(image, 280, EMPTY_ETAG)  # RGW lists an SLO manifest so
    segments = [entry(f"{image}/slo/{index:05d}", 1000) for index in range(2)]
    found, slo = group([[manifest, *segments]])
    assert [(item.name, item.kind, item.segments) for item in found] == [(image, OBJECT, 2)]
    assert slo.names == {image}
    # in a segments container of their own, listed before the manifest's container
    held: list[Group] = []
    index = SloIndex()
    first = ContainerGrouper("glance_segments", index, held)
    assert list(first.feed(segments)) + list(first.finish()) == []
    second = ContainerGrouper("glance", index, held)
    assert [item.name for item in [*second.feed([manifest]), *second.finish()]] == [image]
    assert list(release_held(held, index)) == []
    # a name that no manifest claims is released at the end
    stray = Group("glance", "notes.txt", OBJECT)
    assert list(release_held([stray], index)) == [stray]


def test_an_slo_manifest_served_by_the_server_names_its_segments() -> None:
    body = b'[{"name": "/glance_segments/a/1", "bytes": 3}, {"name": "/glance_segments/b", "bytes": 4}]'
    assert slo_segment_paths(body) == ["glance_segments/a/1", "glance_segments/b"]
    assert slo_segment_paths(b"") is None  # RGW does not serve it
    assert slo_segment_paths(b"{}") is None
    index = SloIndex(segments={"glance_segments/b": "glance/m"})
    assert index.owner("glance_segments", "b") == "glance/m"
    assert index.owner("glance_segments", "c") is None
