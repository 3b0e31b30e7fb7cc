"""The approval chain (draft → 決裁 → publish), rejection with a comment, the publish guard,
close with reply, unpublish, templates, notes, assignment and duplicates — each with its audit event."""

from __future__ import annotations

import pytest

from meyasubako import keys
from meyasubako.domain import Forbidden, InvalidInput, InvalidTransition
from tests.admin.helpers import as_user, events, get, new_item, post, setup_people

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL


@pytest.fixture
async def world(client):
    people = await setup_people(client.app)
    sub = await new_item(client.app, "家の前の道路に大きな穴があいています。自転車で転びそうになりました。",
                         section="road", by=people["koucho"])
    return people, sub


async def test_draft_submit_reject_resubmit_approve_publish(client, world):
    people, sub = world
    no = sub.receipt_no
    await as_user(client, "douro")
    assert (await post(client, f"/admin/items/{no}/draft", {"body": "現地を確認します。"})).status == 303
    assert (await get(client.app, no)).status == "in_progress"
    assert (await post(client, f"/admin/items/{no}/answer", {"body": "現地を確認し、補修します。"})).status == 303
    assert (await get(client.app, no)).status == "answered"
    # The section cannot approve or publish its own answer.
    assert (await post(client, f"/admin/items/{no}/approve", {})).status == 403
    assert (await post(client, f"/admin/items/{no}/publish", {"summary": "道路の穴", "pii_confirmed": "1"})).status == 403
    await as_user(client, "koucho")
    resp = await post(client, f"/admin/items/{no}/reject", {"comment": ""})
    assert resp.status == 400 and "差し戻しの理由" in await resp.text()
    assert (await post(client, f"/admin/items/{no}/reject", {"comment": "補修の時期を書いてください。"})).status == 303
    assert (await get(client.app, no)).status == "in_progress"
    await as_user(client, "douro")
    html = await (await client.get(f"/admin/items/{no}")).text()
    assert "補修の時期を書いてください。" in html and "差し戻し" in html
    await post(client, f"/admin/items/{no}/answer", {"body": "今月中に補修します。"})
    await as_user(client, "koucho")
    assert (await post(client, f"/admin/items/{no}/approve", {})).status == 303
    assert (await get(client.app, no)).status == "approved"
    resp = await post(client, f"/admin/items/{no}/publish", {"summary": "道路の穴の補修について"})
    assert resp.status == 303
    assert (await get(client.app, no)).status == "published"
    assert "今月中に補修します。" in await (await client.get("/")).text()
    steps = [(e.action, e.actor) for e in await events(client.app, no)]
    assert steps[-6:] == [
        ("draft", "user:douro"), ("answer", "user:douro"), ("reject", "user:koucho"), ("answer", "user:douro"),
        ("approve", "user:koucho"), ("publish", "user:koucho"),
    ]
    assert all(e.at for e in await events(client.app, no))


async def test_publish_guard_consent(client, world):
    people, _ = world
    wf = client.app[keys.WORKFLOW]
    private = await new_item(client.app, "公園のベンチが壊れています。", section="park", consent=False, by=people["koucho"])
    await wf.save_answer(private.receipt_no, "修理します。", people["koucho"])
    await wf.approve(private.receipt_no, people["koucho"])
    with pytest.raises(InvalidInput, match="同意"):
        await wf.publish(private.receipt_no, "公園のベンチ", people["koucho"], pii_confirmed=True)
    assert (await get(client.app, private.receipt_no)).status == "approved"


async def test_publish_guard_unconfirmed_pii_then_confirmed(client, world):
    people, sub = world
    wf = client.app[keys.WORKFLOW]
    await wf.save_answer(sub.receipt_no, "補修します。", people["douro"])
    await wf.approve(sub.receipt_no, people["koucho"])
    summary = "道路の穴について。山田太郎さん（090-1234-5678）から"
    with pytest.raises(InvalidInput, match="個人情報"):
        await wf.publish(sub.receipt_no, summary, people["koucho"])
    assert (await get(client.app, sub.receipt_no)).status == "approved"
    await wf.publish(sub.receipt_no, summary, people["koucho"], pii_confirmed=True)
    evs = await events(client.app, sub.receipt_no)
    assert evs[-1].action == "publish" and "確認済み" in evs[-1].note


async def test_publish_needs_an_answer_sent_to_approval(client, world):
    people, sub = world
    wf = client.app[keys.WORKFLOW]
    await wf.save_draft(sub.receipt_no, "下書きです。", people["douro"])
    with pytest.raises(InvalidInput, match="決裁"):
        await wf.publish(sub.receipt_no, "道路の穴", people["koucho"])
    with pytest.raises(InvalidTransition):
        await wf.approve(sub.receipt_no, people["koucho"])


async def test_close_with_reply_notifies_and_shows_answer_on_status_page(client):
    from tests.conftest import status_link_of, submit
    people = await setup_people(client.app)
    _, html = await submit(client, "家の前の道路に穴があります。公開はしないでください。", consent="no")
    link = status_link_of(html)
    from tests.conftest import receipt_of
    no = receipt_of(html)
    wf = client.app[keys.WORKFLOW]
    sent: list[tuple[str, str, str]] = []

    async def notifier(conn, sub, kind, body):  # type: ignore[no-untyped-def]
        sent.append((sub.receipt_no, kind, body))

    wf.notifiers.append(notifier)
    await wf.route(no, "road", people["koucho"])
    await wf.save_answer(no, "来週補修します。", people["douro"])
    with pytest.raises(InvalidInput, match="決裁済み"):
        await wf.close(no, "private", people["douro"], reply=True)
    await wf.approve(no, people["koucho"])
    await as_user(client, "douro")
    resp = await post(client, f"/admin/items/{no}/close", {"reason": "private", "reply": "1"})
    assert resp.status == 303
    assert sent == [(no, "closed", "来週補修します。")]
    sub = await get(client.app, no)
    assert sub.status == "closed" and sub.close_reason == "private"
    assert "来週補修します。" in await (await client.get(link)).text()
    assert no not in await (await client.get("/")).text()


async def test_unpublish_with_reason(client, world):
    people, sub = world
    wf = client.app[keys.WORKFLOW]
    await wf.save_answer(sub.receipt_no, "補修しました。", people["douro"])
    await wf.publish(sub.receipt_no, "道路の穴の補修", people["koucho"])
    assert sub.receipt_no in await (await client.get("/")).text()
    await as_user(client, "koucho")
    resp = await post(client, f"/admin/items/{sub.receipt_no}/unpublish", {"reason": ""})
    assert resp.status == 400
    resp = await post(client, f"/admin/items/{sub.receipt_no}/unpublish", {"reason": "回答内容に誤り"})
    assert resp.status == 303
    assert (await get(client.app, sub.receipt_no)).status == "approved"
    assert sub.receipt_no not in await (await client.get("/")).text()
    assert (await events(client.app, sub.receipt_no))[-1].note == "回答内容に誤り"


async def test_batch_publish_publishes_approved_and_reports_the_rest(client, world):
    people, sub = world
    wf = client.app[keys.WORKFLOW]
    other = await new_item(client.app, "公園の街灯が切れています。", section="park", by=people["koucho"])
    waiting = await new_item(client.app, "ごみ集積所のカラス対策をお願いします。", section="waste", by=people["koucho"])
    for s in (sub, other):
        await wf.save_answer(s.receipt_no, "対応します。", people["koucho"])
        await wf.approve(s.receipt_no, people["koucho"])
    with pytest.raises(Forbidden):
        await wf.publish_batch([sub.receipt_no], people["douro"])
    await as_user(client, "koucho")
    resp = await post(client, "/admin/bulk", {"op": "publish", "item": [sub.receipt_no, other.receipt_no,
                                                                          waiting.receipt_no]})
    assert resp.status == 303
    html = await (await client.get("/admin/")).text()
    assert "まとめて公開: 2件" in html and waiting.receipt_no in html and "決裁済みではありません" in html
    assert (await get(client.app, other.receipt_no)).status == "published"
    assert (await get(client.app, waiting.receipt_no)).status == "routed"


async def test_templates_notes_assignment_and_duplicates(client, world):
    people, sub = world
    no = sub.receipt_no
    await as_user(client, "root")
    resp = await post(client, "/admin/sections/road/templates",
                      {"title": "補修予定", "body": "受付番号{受付番号}の件、{課名}で補修します。期限は{回答期限}です。{不明}"},
                      page="/admin/sections/road")
    assert resp.status == 303
    await as_user(client, "douro")
    html = await (await client.get(f"/admin/items/{no}")).text()
    assert "補修予定" in html
    import re
    tid = re.search(r'<option value="(\d+)">補修予定', html).group(1)
    assert (await post(client, f"/admin/items/{no}/template", {"template_id": tid})).status == 303
    async with client.app[keys.DB].read() as conn:
        from storage import submissions as subs
        ans = await subs.answer_for(conn, sub.id)
    assert ans.state == "draft" and f"受付番号{no}の件、道路・河川で補修します。" in ans.body and "{不明}" in ans.body
    # A template of another section is refused.
    assert (await post(client, f"/admin/items/{no}/template", {"template_id": "99999"})).status == 400
    # Notes: staff only, never on the resident's or the public pages.
    assert (await post(client, f"/admin/items/{no}/note", {"body": "秘密の内部メモ"})).status == 303
    assert (await post(client, f"/admin/items/{no}/note", {"body": "x" * 2001})).status == 400
    assert "秘密の内部メモ" in await (await client.get(f"/admin/items/{no}")).text()
    # Assignment: only people who may see the item.
    assert (await post(client, f"/admin/items/{no}/assign", {"assignee": "fukushi"})).status == 400
    assert (await post(client, f"/admin/items/{no}/assign", {"assignee": "douro"})).status == 303
    assert (await get(client.app, no)).assignee == "douro"
    # Duplicate of an earlier item.
    later = await new_item(client.app, "道路の穴がまだ直っていません。", section="road", by=people["koucho"])
    for bad in ("", "abc", later.receipt_no, "2099-999999"):
        assert (await post(client, f"/admin/items/{later.receipt_no}/duplicate", {"original": bad})).status == 400
    assert (await post(client, f"/admin/items/{later.receipt_no}/duplicate", {"original": no})).status == 303
    dup = await get(client.app, later.receipt_no)
    assert dup.status == "closed" and dup.close_reason == "duplicate" and dup.duplicate_of == no
    actions = [e.action for e in await events(client.app, no)]
    assert {"use_template", "note", "assign"} <= set(actions)
    assert "秘密の内部メモ" not in " ".join(e.note for e in await events(client.app, no))


async def test_every_route_and_action_writes_an_event_with_who_and_when(client, world):
    people, sub = world
    wf = client.app[keys.WORKFLOW]
    u = people["koucho"]
    before = len(await events(client.app, sub.receipt_no))
    await wf.route(sub.receipt_no, "park", u)
    await wf.assign(sub.receipt_no, "koucho", u)
    await wf.add_note(sub.receipt_no, "メモ", u)
    await wf.save_draft(sub.receipt_no, "下書き", u)
    await wf.save_answer(sub.receipt_no, "回答", u)
    await wf.reject(sub.receipt_no, "直して", u)
    await wf.save_answer(sub.receipt_no, "回答2", u)
    await wf.approve(sub.receipt_no, u)
    await wf.publish(sub.receipt_no, "要旨", u)
    await wf.unpublish(sub.receipt_no, "誤り", u)
    await wf.close(sub.receipt_no, "out_of_scope", u)
    evs = (await events(client.app, sub.receipt_no))[before:]
    assert [e.action for e in evs] == ["reroute", "assign", "note", "draft", "answer", "reject", "answer", "approve",
                                       "publish", "unpublish", "close"]
    assert all(e.actor == "user:koucho" and e.at.startswith("20") for e in evs)
