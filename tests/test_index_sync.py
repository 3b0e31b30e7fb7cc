"""Several processes on PostgreSQL: what one process receives and publishes reaches the other's
similarity indexes (staff "similar items", the public "related answers")."""

from __future__ import annotations

import pytest

from meyasubako import keys
from meyasubako.domain import Channel, NewSubmission
from meyasubako.index_sync import INDEX_SYNC
from tests.conftest import add_user

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def test_items_of_another_process_reach_this_ones_indexes(make_client, settings):
    a = await make_client(settings)
    b = await make_client(settings)  # a second process on the same database
    wf = a.app[keys.WORKFLOW]
    user = await add_user(a.app, "koucho", "approver")
    got = await wf.receive(NewSubmission(channel=Channel.WEB, text="図書館の自習室をもっと増やしてほしいです。",
                                         consent=True))
    receipt = got.submission.receipt_no
    other = b.app[keys.NLP].indexes
    assert receipt not in other["staff"] and receipt not in other["public"]
    assert await b.app[INDEX_SYNC].once() >= 1
    assert receipt in other["staff"] and receipt not in other["public"]  # received, not yet published

    await wf.route(receipt, "facilities", user)
    await wf.save_answer(receipt, "自習室の増設を検討します。", user)
    await wf.publish(receipt, "図書館の自習室の増設", user)
    assert await b.app[INDEX_SYNC].once() >= 1
    assert receipt in other["public"]
    assert await b.app[INDEX_SYNC].once() == 0  # nothing new: nothing re-indexed
    hits = await b.app[keys.NLP].similar_to("public", ["図書館", "自習室"], k=3)
    assert [r for r, _ in hits] == [receipt]
