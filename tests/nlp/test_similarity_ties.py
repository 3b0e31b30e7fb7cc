"""Ties among equal scores still break by key, ascending, exactly like the pure-Python reference.

nlp/similarity.py orders tie groups with numpy on a per-slot rank of each key (gapped integers kept
in key order by a blocked sorted list) and keeps each term's weights between queries. These tests
would fail if ties came out in slot (insertion) order, if a reused slot kept its old key's rank, if
a rank fell out of ``str`` order (lengths, prefixes, non-ASCII, NULs, very long keys, gaps used up
and renumbered, blocks split and emptied) or if cached weights outlived an add or remove.
"""

from __future__ import annotations

import random

from nlp import SimilarityIndex
from tests.nlp.reference_bm25 import ReferenceIndex

TEXT = ["公園", "ブランコ", "鎖", "さび"]
OTHER = ["公園", "ベンチ", "塗装"]


def both() -> tuple[SimilarityIndex, ReferenceIndex]:
    return SimilarityIndex(), ReferenceIndex()


def add(pair: tuple[SimilarityIndex, ReferenceIndex], key: str, terms: list[str]) -> None:
    pair[0].add(key, terms)
    pair[1].add(key, terms)


def remove(pair: tuple[SimilarityIndex, ReferenceIndex], key: str) -> None:
    pair[0].remove(key)
    pair[1].remove(key)


def same(pair: tuple[SimilarityIndex, ReferenceIndex], terms: list[str], k: int, exclude=None) -> list:
    got = pair[0].query(terms, k=k, exclude=exclude)
    assert got == pair[1].query(terms, k=k, exclude=exclude)
    return got


def test_a_thousand_duplicates_inserted_out_of_order_then_slots_reused():
    pair = both()
    rng = random.Random(11)
    numbers = rng.sample(range(1000, 2000), 1000)
    for n in numbers:  # out of key order: slot order is not key order
        add(pair, f"2025-{n:06d}", TEXT)
    add(pair, "2025-000500", OTHER)  # a lower score, shares one term
    hits = same(pair, TEXT, 5)
    assert [key for key, _ in hits] == [f"2025-{n:06d}" for n in range(1000, 1005)]
    assert {s for _, s in hits} == {1.0}
    for k in (1, 4, 21, 150, 999, 1000, 1001, 1500):  # around the group size, and beyond it
        same(pair, TEXT, k)
    # exclude inside the group: the first key, several first keys, a key from the middle
    assert same(pair, TEXT, 3, exclude="2025-001000")[0][0] == "2025-001001"
    same(pair, TEXT, 5, exclude=["2025-001000", "2025-001002", "2025-001500", "missing"])
    # remove the smallest keys; their slots are reused (LIFO) by keys sorting before and after all others
    for n in range(1000, 1010):
        remove(pair, f"2025-{n:06d}")
    assert same(pair, TEXT, 2)[0][0] == "2025-001010"
    for key in ("2024-999999", "2025-000999", "2026-000001", "2025-0010055"):
        add(pair, key, TEXT)
    hits = same(pair, TEXT, 4)
    assert [key for key, _ in hits] == ["2024-999999", "2025-000999", "2025-0010055", "2025-001010"]
    same(pair, TEXT, 1005)
    same(pair, TEXT, 6, exclude="2024-999999")
    # re-adding an existing key with other words moves it out of the group
    add(pair, "2024-999999", OTHER)
    assert same(pair, TEXT, 1)[0][0] == "2025-000999"


def test_keys_of_different_lengths_and_scripts_order_like_python_strings():
    keys = ["", "a", "ab", "abc", "abd", "b", "B", "2025-1", "2025-10", "2025-000001", "2025-00001",
            "é", "e\u0301", "z", "語", "語a", "ｚ", "\U0001f600", "\ud800", "\ue000", "a b", "a\x00b", "~"]
    pair = both()
    for key in random.Random(5).sample(keys, len(keys)):
        add(pair, key, TEXT)
    hits = same(pair, TEXT, len(keys) + 3)
    assert [key for key, _ in hits] == sorted(keys)
    for k in (1, 2, 7):
        same(pair, TEXT, k)
        same(pair, TEXT, k, exclude="")
        same(pair, TEXT, k, exclude=["a", "ab", "2025-1"])


def test_nul_and_very_long_keys_then_slots_reused():
    # "a" and "a\0" are equal as NUL-padded bytes: an order on bytes would get them wrong.
    pair = both()
    long_key = "k" * 200
    for key in ("a\x00", "b", "a", "a\x00\x00", long_key, "k", "a\x01"):
        add(pair, key, TEXT)
    assert [key for key, _ in same(pair, TEXT, 10)] == ["a", "a\x00", "a\x00\x00", "a\x01", "b", "k", long_key]
    same(pair, TEXT, 2)
    same(pair, TEXT, 2, exclude="a")
    for key in ("a\x00", "a\x00\x00", long_key):
        remove(pair, key)
    for n in range(30):  # slots of the removed keys are reused by ordinary keys
        add(pair, f"x{(n * 7) % 30:03d}", TEXT)
    assert [key for key, _ in same(pair, TEXT, 4)] == ["a", "a\x01", "b", "k"]
    same(pair, TEXT, 40)
    same(pair, TEXT, 6, exclude=["a", "b", "x000"])


def test_k_larger_than_the_tie_group_takes_the_next_groups_in_key_order():
    pair = both()
    for key in ("m3", "m1", "m2"):
        add(pair, key, TEXT)
    for key in ("n2", "n1", "o9", "n3"):
        add(pair, key, TEXT[:2])
    for key in ("p2", "p1"):
        add(pair, key, TEXT[:1] + OTHER[1:])
    hits = same(pair, TEXT, 8)
    assert [key for key, _ in hits] == ["m1", "m2", "m3", "n1", "n2", "n3", "o9", "p1"]
    same(pair, TEXT, 20)
    same(pair, TEXT, 5, exclude=["m2", "n1"])


def test_randomized_indexes_with_heavy_ties_match_the_reference():
    rng = random.Random(20261130)
    vocab = [f"語{i}" for i in range(6)]
    texts = [rng.sample(vocab, rng.randint(1, 4)) for _ in range(5)]  # few texts: large tie groups
    alphabet = "ab2-é語\x00"
    for _round in range(12):
        pair = both()
        live: list[str] = []
        for _step in range(400):
            r = rng.random()
            if r < 0.6 or not live:
                key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                if rng.random() < 0.7:  # mostly receipt-like keys, added out of order
                    key = f"2025-{rng.randint(0, 999):06d}"
                add(pair, key, rng.choice(texts) * rng.randint(1, 2))
                live.append(key)
            elif r < 0.8:
                key = live.pop(rng.randrange(len(live)))
                remove(pair, key)
            else:  # queries interleaved with changes: cached weights must not outlive them
                q = rng.choice(texts + [rng.sample(vocab, 2)])
                k = rng.choice([1, 3, 5, 40, 500])
                exclude = rng.choice([None, rng.choice(live), rng.sample(live, min(3, len(live)))])
                same(pair, q, k, exclude)
        for q in texts:
            for k in (1, 5, 1000):
                same(pair, q, k)


def test_used_up_rank_gaps_are_renumbered_in_key_order():
    pair = both()
    add(pair, "b", TEXT)
    add(pair, "a", TEXT)
    key = "a"
    for _ in range(150):  # every key lands just after the previous one, before "b": halves one gap
        key += "z"
        add(pair, key, TEXT)
        same(pair, TEXT, 2, exclude="a")
    for n in range(150):  # and again just after "a", and before everything
        add(pair, "a" + "m" * (n + 1), TEXT)
        add(pair, "A" + "z" * (150 - n), TEXT)
    same(pair, TEXT, 1000)
    for k in (1, 3, 10):
        same(pair, TEXT, k, exclude=["A" + "z" * 150, "a"])


def test_thousands_of_keys_split_and_empty_the_sorted_blocks():
    pair = both()
    rng = random.Random(8)
    numbers = rng.sample(range(10_000), 6000)
    for n in numbers:
        add(pair, f"2025-{n:06d}", TEXT if n % 3 else OTHER)
    same(pair, TEXT, 5)
    same(pair, OTHER, 7, exclude="2025-000000")
    for n in sorted(numbers)[:2500]:  # the smallest keys: whole blocks become empty
        remove(pair, f"2025-{n:06d}")
    same(pair, TEXT, 5)
    for n in range(0, 200, 3):  # keys before all others again, into reused slots
        add(pair, f"2025-{n:06d}", TEXT)
    same(pair, TEXT, 5)
    same(pair, TEXT, 80, exclude=["2025-000003", "2025-000006"])
    same(pair, OTHER, 3000)


def test_keys_inserted_at_a_block_boundary_take_ranks_between_both_blocks():
    pair = both()
    for n in range(5000):  # ascending: appended, blocks split at 2 * 1024 keys
        add(pair, f"k{n:05d}", TEXT if 1020 <= n <= 1026 else OTHER)
    for key in ("k01023x", "k01023w", "k01023v", "k01024a", "k01022z"):  # around k01023 | k01024
        add(pair, key, TEXT)
    hits = same(pair, TEXT, 12)
    assert [key for key, _ in hits] == ["k01020", "k01021", "k01022", "k01022z", "k01023", "k01023v",
                                        "k01023w", "k01023x", "k01024", "k01024a", "k01025", "k01026"]
