"""The workflow: allowed transitions only, an event for every change."""

from __future__ import annotations

import pytest

from meyasubako import keys
from meyasubako.domain import TRANSITIONS, Channel, InvalidTransition, NewSubmission, Status
from storage import submissions as subs
from tests.conftest import add_user

BOTH_BACKENDS = True


def test_every_status_has_transitions_and_published_is_reachable():
    assert set(TRANSITIONS) == set(Status)
    seen, frontier = {Status.RECEIVED}, [Status.RECEIVED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)


async def test_each_change_writes_one_event_with_actor(client):
    wf = client.app[keys.WORKFLOW]
    user = await add_user(client.app, "koucho", "approver")
    r = await wf.receive(NewSubmission(channel=Channel.WEB, text="図書館の開館時間を延ばしてほしい。", consent=True))
    await wf.route(r.submission.receipt_no, "facilities", user)
    await wf.save_answer(r.submission.receipt_no, "検討します。", user)
    await wf.publish(r.submission.receipt_no, "図書館の開館時間の延長", user)
    async with client.app[keys.DB].read() as conn:
        events = await subs.events_for(conn, r.submission.id)
    steps = [(e.action, e.from_status, e.to_status) for e in events]
    assert steps[0] == ("receive", None, "received")
    assert steps[-4:] == [
        ("route" if steps[-4][0] == "route" else "reroute", steps[-4][1], "routed"),
        ("answer", "routed", "answered"),
        ("approve", "answered", "approved"),
        ("publish", "approved", "published"),
    ]
    assert all(e.actor == "user:koucho" for e in events[-4:])


async def test_invalid_transition_is_refused_and_leaves_no_event(client):
    wf = client.app[keys.WORKFLOW]
    user = await add_user(client.app, "koucho", "approver")
    r = await wf.receive(NewSubmission(channel=Channel.WEB, text="ごみの収集日を教えてください。", consent=True))
    await wf.close(r.submission.receipt_no, "out_of_scope", user)
    async with client.app[keys.DB].read() as conn:
        before = len(await subs.events_for(conn, r.submission.id))
    with pytest.raises(InvalidTransition):
        await wf.save_answer(r.submission.receipt_no, "回答", user)
    async with client.app[keys.DB].read() as conn:
        assert len(await subs.events_for(conn, r.submission.id)) == before
        assert (await subs.by_id(conn, r.submission.id)).status == Status.CLOSED
