"""Everything the resident reads in the LINE chat: short, friendly Japanese, in one place.

Builders return LINE message objects as plain dicts in LINE's wire format (camelCase keys), which
is what the outbox stores and what goes out as JSON. They are built by hand, not through the SDK's
pydantic models: building and validating those models cost ~0.4 ms per message on the background
path that competes with webhook acknowledgements for the CPU. ``tests/bot/test_wire.py`` checks
every shape against the SDK's own ``to_dict()`` output, so field names stay LINE's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import postback
from meyasubako.domain import STATUS_LABELS, Submission

MAX_LINE_TEXT = 5000  # LINE's limit for one text message

GREETING = (
    "友だち追加ありがとうございます。市の「目安箱」です。\n"
    "まちへのご意見・ご要望・ご質問を、このトークに文章で送ってください。写真や位置情報も添えられます。\n\n"
    "送る前に、回答とあわせて公開してよいかをお聞きします。お名前・連絡先などの個人情報は公開しません。\n"
    "受付番号をお知らせし、回答ができたらこのトークでお知らせします。「状況」と送ると進み具合を確認できます。"
)
DRAFT_STARTED = "ご意見ありがとうございます。"
SECTION_GUESS = "担当は「{name}」になりそうです（職員が確認して決めます）。"
SECTION_UNKNOWN = "担当課は職員が内容を確認して決めます。"
ASK_CONSENT = (
    "回答とあわせて、個人情報を伏せた内容を市のホームページで公開してもよいですか？\n"
    "位置情報や写真も追加できます。すぐに送る場合は「このまま送信」を押してください（公開しない扱いになります）。"
)
APPENDED = "追記しました。続けて送った文章は、1件のご意見にまとめます。"
ASK_CONSENT_SHORT = "公開してよいかを選ぶか、「このまま送信」を押してください。"
CONSENT_SET = "「{choice}」で承りました。位置情報や写真を追加するか、「送信する」を押してください。"
LOCATION_ADDED = "位置情報を追加しました（{place}）。"
IMAGE_ADDED = "写真を追加しました（{n}枚目）。写真は職員だけが確認し、自動で公開されることはありません。"
NEED_TEXT_NEXT = "続けて、ご意見の内容を文章で送ってください。"
NEED_TEXT = "ご意見の内容を文章で送ってから、送信してください。"
TOO_LONG = "1件のご意見は{limit}文字までです。いったん送信してから、続きを別のご意見として送ってください。"
TOO_MANY_IMAGES = "写真は1件のご意見につき{limit}枚までです。"
IMAGE_TOO_LARGE = "写真のサイズが大きすぎるため、受け取れませんでした（{mb}MBまで）。"
IMAGE_FAILED = "写真を受け取れませんでした。お手数ですが、もう一度送ってください。"
IMAGE_FORMAT = "この形式の画像は受け取れません。JPEGかPNGの写真を送ってください。"
STICKER = "スタンプありがとうございます。ご意見は文章で送ってください。"
UNSUPPORTED = "申し訳ありませんが、動画・音声・ファイルは受け付けていません。文章と写真、位置情報でお送りください。"
RECEIPT = (
    "ご意見を受け付けました。ありがとうございます。\n"
    "受付番号: {receipt_no}\n"
    "{consent}\n"
    "担当課で確認し、回答ができたらこのトークでお知らせします。「状況」と送ると進み具合を確認できます。"
)
CONSENT_YES = "公開: してよい（個人情報は伏せて公開します）"
CONSENT_NO = "公開: しない"
ALREADY_SENT = "このご意見はすでに受け付けています。\n受付番号: {receipt_no}"
STALE = "この操作は使えなくなりました。お手数ですが、もう一度ご意見を文章で送ってください。"
RATE_LIMITED = (
    "短い時間にたくさんのご意見が届いたため、受付を少しお待ちいただいています。"
    "{seconds}秒ほどたってから、もう一度「送信する」を押してください。"
)
CANCELLED = "下書きを取り消しました。ご意見はいつでもこのトークに送ってください。"
NOTHING_TO_CANCEL = "取り消す下書きはありません。"
DRAFT_EXPIRED = "前回の送信されていない下書きは、時間がたったため取り消しました。"
STATUS_NONE = "このLINEアカウントから受け付けたご意見はまだありません。ご意見はこのトークに文章で送ってください。"
STATUS_HEAD = "ご意見の状況です（新しい順に{n}件）。"
STATUS_NOT_FOUND = (
    "受付番号 {receipt_no} のご意見は見つかりませんでした。"
    "このLINEアカウントから送られたご意見の状況だけをお知らせできます。"
)
ERROR = "申し訳ありません。うまく処理できませんでした。お手数ですが、もう一度送ってください。"
NOTIFY_PUBLISHED = "受付番号 {receipt_no} のご意見に回答しました。"
NOTIFY_CLOSED = "受付番号 {receipt_no} のご意見への回答です。"
NOTIFY_LINK = "掲示板でもご覧いただけます。\n{url}"
TRUNCATED = "…（続きは掲示板でご覧ください）"
TRUNCATED_NO_LINK = "…（以下省略）"

# Words that ask for the status (after NFKC and stripping). Kept small on purpose: ordinary
# sentences that merely contain 状況 must still become suggestions.
STATUS_WORDS = frozenset({"状況", "状況確認", "じょうきょう", "進み具合", "ステータス"})
CANCEL_WORDS = frozenset({"取り消し", "取り消す", "取消", "キャンセル", "やめる"})


# -- builders ------------------------------------------------------------------------------------
QuickReplyItem = dict[str, Any]  # {"type": "action", "action": {...}}


def text(body: str, items: Sequence[QuickReplyItem] | None = None) -> dict[str, Any]:
    """A text message (at most LINE's 5000 characters), with quick replies when ``items`` are given."""
    msg: dict[str, Any] = {"type": "text", "text": body[:MAX_LINE_TEXT]}
    if items:
        msg["quickReply"] = {"items": list(items)}
    return msg


def _action(action: dict[str, Any]) -> QuickReplyItem:
    return {"type": "action", "action": action}


def _pb(label: str, data: str) -> QuickReplyItem:
    return _action({"type": "postback", "label": label, "data": data, "displayText": label})


def draft_items(draft_id: str, consent: bool | None) -> list[QuickReplyItem]:
    """The quick replies under every draft message: choose 公開, add location/photo, send, cancel."""
    items: list[QuickReplyItem] = []
    if consent is None:
        items += [_pb("公開してよい", postback.encode("consent", draft_id, "yes")),
                  _pb("公開しない", postback.encode("consent", draft_id, "no"))]
    else:
        items.append(_pb("送信する", postback.encode("send", draft_id)))
    items += [
        _action({"type": "location", "label": "位置情報を送る"}),
        _action({"type": "camera", "label": "写真を撮る"}),
        _action({"type": "cameraRoll", "label": "写真を選ぶ"}),
    ]
    if consent is None:
        items.append(_pb("このまま送信", postback.encode("send", draft_id)))
    else:  # let the resident change their mind about publication before sending
        other = ("公開しない", "no") if consent else ("公開してよい", "yes")
        items.append(_pb(other[0], postback.encode("consent", draft_id, other[1])))
    items.append(_pb("取り消す", postback.encode("cancel", draft_id)))
    return items


def prompt(consent: bool | None) -> str:
    if consent is None:
        return ASK_CONSENT
    return CONSENT_SET.format(choice="公開してよい" if consent else "公開しない")


def receipt(receipt_no: str, consent: bool) -> str:
    return RECEIPT.format(receipt_no=receipt_no, consent=CONSENT_YES if consent else CONSENT_NO)


def _snippet(s: str, n: int = 30) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def status_entry(sub: Submission, base_url: str) -> str:
    lines = [f"受付番号: {sub.receipt_no}（{sub.received_at[:10]}）", f"「{_snippet(sub.text)}」",
             f"状況: {STATUS_LABELS.get(sub.status, sub.status)}"]
    if sub.status == "published" and base_url:
        lines.append(f"{base_url}/voices/{sub.receipt_no}")
    return "\n".join(lines)


def status_list(subs: Sequence[Submission], base_url: str) -> str:
    if not subs:
        return STATUS_NONE
    return "\n\n".join([STATUS_HEAD.format(n=len(subs))] + [status_entry(s, base_url) for s in subs])


def notification(receipt_no: str, kind: str, answer: str, base_url: str) -> str:
    """The push a resident gets when the answer is out; fits LINE's 5000 characters."""
    head = (NOTIFY_PUBLISHED if kind == "published" else NOTIFY_CLOSED).format(receipt_no=receipt_no)
    link = NOTIFY_LINK.format(url=f"{base_url}/voices/{receipt_no}") if base_url and kind == "published" else ""
    answer = answer.strip()
    room = MAX_LINE_TEXT - len(head) - len(link) - 4  # the blank lines between the parts
    if len(answer) > room:
        cut = TRUNCATED if link else TRUNCATED_NO_LINK
        answer = answer[: room - len(cut)].rstrip() + cut
    return "\n\n".join(p for p in (head, answer, link) if p)
