"""What an orphan scan keeps of its listings (:mod:`scrubctl.orphans.catalogue`) answers as the pieces
listed would: a URL gives the key of exactly the pieces listed with it, a key is held while a piece
carrying it is, and what is left after rows need keys is exactly the pieces no key named, rebuilt as
listed. Checked against the plain list of pieces on random listings with the awkward cases: one name
in several stores and URL forms, key forms that overlap (a directory inside another), several URL forms
of one key, pieces whose URL does not hold their name, the same URL with different keys."""

from __future__ import annotations

import random
import uuid

import pytest

from scrubctl.backends.inventory import StoredPiece
from scrubctl.orphans.catalogue import Catalogue

# (URL prefix, URL suffix, key prefix, key suffix): overlapping directories, an RBD-like suffix, two URL
# forms of one key form, one URL form of two key forms.
FORMS = [
    ("file:///d/", "", "file:/d/", ""),
    ("file:///d/x", "", "file:/d/x", ""),
    ("file:///d/", "", "file:/elsewhere/", ""),
    ("rbd://fsid/pool/", "/snap", "rbd:pool/", ""),
    ("swift+config://ref/c/", "", "swift:c/", ""),
    ("swift://user:key@host/c/", "", "swift:c/", ""),
]


class Store:
    """Stands for a scanned store (the catalogue only keeps it and tells stores apart)."""


Listed = dict[tuple[int, StoredPiece], tuple[Store, StoredPiece]]


def listing(chance: random.Random, stores: list[Store], names: list[str]) -> list[tuple[Store, StoredPiece]]:
    pieces = []
    for _ in range(chance.randint(1, 40)):
        name = chance.choice(names)
        if chance.random() < 0.15:  # its URL does not hold its name
            piece = StoredPiece(f"odd://{chance.randint(0, 3)}", f"k:{chance.choice(names)}", name)
        else:
            url_prefix, url_suffix, key_prefix, key_suffix = chance.choice(FORMS)
            trash = chance.choice([None, None, "t1"])
            piece = StoredPiece(url_prefix + name + url_suffix, key_prefix + name + key_suffix, name, trash_id=trash)
        pieces.append((chance.choice(stores), piece))
    return pieces


def need(remaining: Listed, key: str) -> Listed:
    return {found: entry for found, entry in remaining.items() if entry[1].key != key}


def left(catalogue: Catalogue) -> set[tuple[int, StoredPiece]]:
    return {(id(store), piece) for store, piece in catalogue.left()}


@pytest.mark.parametrize("seed", range(40))
def test_the_catalogue_answers_as_the_pieces_listed(seed: int) -> None:
    chance = random.Random(seed)
    stores = [Store() for _ in range(3)]
    names = [str(uuid.UUID(int=chance.getrandbits(128)))[: chance.choice([3, 36])] for _ in range(12)] + ["ab", "b"]
    pieces = listing(chance, stores, names)
    catalogue = Catalogue()
    for store, piece in pieces:
        catalogue.add(store, piece)  # type: ignore[arg-type]
    remaining: Listed = {(id(store), piece): (store, piece) for store, piece in pieces}
    texts = [piece.url for _store, piece in pieces] + [piece.key for _store, piece in pieces]
    texts += [f"k:{name}" for name in names] + ["file:/d/xab", "file:///d/xab", "nothing"]
    for _ in range(30):
        text = chance.choice(texts)
        key = catalogue.url_key(text)
        keys = {piece.key for _store, piece in remaining.values() if piece.url == text}
        assert key is None or keys == {key}, (text, key, keys)
        if key is None and chance.random() < 0.5:
            key = text
        if key is not None:
            assert (key in catalogue) == any(piece.key == key for _store, piece in remaining.values()), key
            catalogue.need(key)
            remaining = need(remaining, key)
        assert left(catalogue) == set(remaining)
    gone = chance.choice(stores)
    catalogue.forget(gone)  # type: ignore[arg-type]
    assert left(catalogue) == {found for found, entry in remaining.items() if entry[0] is not gone}
