"""InMemoryStorage lists as S3 does, counts the LIST requests S3 would bill, and its index follows changes."""

from __future__ import annotations

import pytest

from modelwatch.stores.objects import S3_LIST_PAGE_KEYS, InMemoryStorage

BUCKET = "b"


@pytest.mark.parametrize(("objects", "requests"), [(0, 1), (1, 1), (1000, 1), (1001, 2), (2500, 3)])
def test_a_listing_is_billed_one_request_per_page_of_1000_keys(objects: int, requests: int) -> None:
    storage = InMemoryStorage()
    for i in range(objects):
        storage.put(BUCKET, f"p/{i:05d}", b"")
    storage.put(BUCKET, "q/other", b"")

    listed = list(storage.list_objects(BUCKET, "p/"))

    assert len(listed) == objects
    assert storage.list_requests == requests == max(1, -(-objects // S3_LIST_PAGE_KEYS))
    assert storage.calls["list_objects"] == 1


def test_listing_is_in_key_order_by_bucket_and_prefix_and_follows_puts_and_deletes() -> None:
    storage = InMemoryStorage()
    for key in ("a/2", "a/1", "a/10", "ab/1", "b/1"):
        storage.put(BUCKET, key, key.encode())
    storage.put("other", "a/0", b"")
    assert [o.key for o in storage.list_objects(BUCKET, "a/")] == ["a/1", "a/10", "a/2"]
    assert [o.key for o in storage.list_objects(BUCKET, "a")] == ["a/1", "a/10", "a/2", "ab/1"]
    assert [o.key for o in storage.list_objects(BUCKET, "")] == ["a/1", "a/10", "a/2", "ab/1", "b/1"]

    # Tests reach into the table: a deleted object is gone from the next listing, a re-put one back once.
    del storage.objects[(BUCKET, "a/10")]
    storage.put(BUCKET, "a/0", b"new")
    assert [o.key for o in storage.list_objects(BUCKET, "a/")] == ["a/0", "a/1", "a/2"]
    storage.put(BUCKET, "a/10", b"again")
    storage.put(BUCKET, "a/10", b"overwritten")
    listed = list(storage.list_objects(BUCKET, "a/"))
    assert [o.key for o in listed] == ["a/0", "a/1", "a/10", "a/2"]
    assert next(o.size for o in listed if o.key == "a/10") == len(b"overwritten")
    assert storage.keys(BUCKET, "a/") == ["a/0", "a/1", "a/10", "a/2"]


def test_two_storages_sharing_one_table_list_the_same_objects() -> None:
    storage = InMemoryStorage()
    storage.put(BUCKET, "k/1", b"")
    twin = InMemoryStorage()
    twin.objects = storage.objects
    twin.put(BUCKET, "k/2", b"")
    assert [o.key for o in storage.list_objects(BUCKET, "k/")] == ["k/1", "k/2"]
    storage.objects.pop((BUCKET, "k/1"))
    assert [o.key for o in twin.list_objects(BUCKET, "k/")] == ["k/2"]
