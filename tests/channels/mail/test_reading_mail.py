"""Reading mails: the new text of Chinese and English replies, HTML bodies, charsets, attachments, junk rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.email.loops import failed_recipients, reason_not_to_answer
from bots.email.parse import bare_subject, parse_mail
from bots.email.quotes import latest_reply
from bots.email.receiver import keep_attachments, to_inbound
from bots.email.settings import EmailAccount
from core.media import MediaStore
from core.messages import MessageType
from tests.channels.mail.samples import (
    PNG,
    bounce,
    foxmail_reply,
    mail,
    outlook_reply,
    vacation_reply,
)

OURS = frozenset({"kefu@agency.example.cn"})

QUOTED_REPLIES = {
    "foxmail": (
        "好的，投放的是抖音信息流，账户ID 123456。\n\n"
        "------------------ 原始邮件 ------------------\n"
        '发件人: "客服" <kefu@agency.example.cn>;\n'
        "发送时间: 2026年12月6日(星期天) 下午3:00\n"
        '收件人: "张三" <zhang@client.example.cn>;\n'
        "主题: Re: 广告投放问题 [KF-20261206-0001]\n\n"
        "请补充账户ID。\n",
        "好的，投放的是抖音信息流，账户ID 123456。",
    ),
    "outlook zh, full-width colons": (
        "账户ID 123456，谢谢。\n\n"
        "发件人：客服 <kefu@agency.example.cn>\n"
        "发送时间：2026年12月6日 15:00\n"
        "收件人：张三 <zhang@client.example.cn>\n"
        "主题：回复: 广告投放问题\n\n"
        "请补充账户ID。\n",
        "账户ID 123456，谢谢。",
    ),
    "outlook zh, old separator": (
        "可以，明天上午。\n\n-----原始邮件-----\n"
        "发件人: 客服\n发送时间: 2026年12月6日 15:00\n主题: 排期\n\n请确认时间。",
        "可以，明天上午。",
    ),
    "apple mail zh": (
        "可以。\n\n在 2026年12月6日 15:00，客服 <kefu@agency.example.cn> 写道：\n> 请补充账户ID。\n",
        "可以。",
    ),
    "gmail en": (
        "Hi,\n\nthe account is 123.\n\n"
        "On Sat, Dec 6, 2026 at 3:00 PM Kefu <kefu@agency.example.cn> wrote:\n> please send\n",
        "Hi,\n\nthe account is 123.",
    ),
    "dash signature": ("账户ID 123456\n\n--\n张三 | 市场部\n电话 13800138000\n", "账户ID 123456"),
    "phone signature": ("账户ID 123456\n\n发自我的iPhone\n", "账户ID 123456"),
    "nothing quoted": ("只是一句话，没有引用。\n第二行。", "只是一句话，没有引用。\n第二行。"),
}


@pytest.mark.parametrize("text,expected", QUOTED_REPLIES.values(), ids=QUOTED_REPLIES.keys())
def test_the_latest_reply_is_what_the_client_wrote_this_time(text: str, expected: str) -> None:
    assert latest_reply(text) == expected


def test_a_last_paragraph_starting_with_the_senders_name_is_a_signature() -> None:
    assert latest_reply("跳过\n\n张三 | 市场部\n北京某某科技", "张三") == "跳过"
    assert latest_reply("张三这边的账户有问题", "张三") == "张三这边的账户有问题", "a one-paragraph mail is kept"


def test_a_mail_that_is_only_a_quote_keeps_its_text() -> None:
    text = "------------------ 原始邮件 ------------------\n发件人: a\n发送时间: b\n主题: c\n\n转给你们看看"
    assert "转给你们看看" in latest_reply(text)


def test_foxmail_gbk_and_outlook_html_replies_parse_to_the_answer() -> None:
    fox = parse_mail(
        foxmail_reply(
            "z@c.example.cn",
            "k@a.example.cn",
            "Re: 投诉 [KF-20261206-0001]",
            "双十一活动",
            "<f@c>",
            "<x@a>",
            "请问是哪个项目？",
        )
    )
    assert (fox.text, fox.sender_name, fox.ticket_number, fox.in_reply_to) == (
        "双十一活动",
        "张三",
        "KF-20261206-0001",
        "<x@a>",
    )
    outlook = parse_mail(
        outlook_reply("z@c.example.cn", "k@a.example.cn", "Re: 投诉", "跳过", "<o@c>", "<x@a>", "何时开始？")
    )
    assert outlook.text == "跳过" and outlook.is_reply


def test_an_html_only_mail_is_read_as_text_without_its_blockquotes() -> None:
    message = mail("z@c.example.cn", "k@a.example.cn", "数据", "", "<h@c>")
    message.set_content("<p>消耗<b>突然</b>下降</p><blockquote>上一封邮件的内容</blockquote>", subtype="html")
    parsed = parse_mail(message.as_bytes())
    assert "消耗突然下降" in parsed.text and "上一封邮件" not in parsed.text


def test_a_mail_without_a_message_id_gets_a_stable_digest_and_a_long_one_is_hashed() -> None:
    raw = b"From: a@c.example.cn\r\nSubject: x\r\n\r\nhello\r\n"
    assert parse_mail(raw).external_id == parse_mail(raw).external_id
    assert parse_mail(raw).external_id.startswith("sha:")
    long_id = b"<" + b"x" * 200 + b"@c>"
    hashed = parse_mail(b"From: a@c.example.cn\r\nMessage-ID: " + long_id + b"\r\n\r\nhi\r\n").external_id
    assert hashed.startswith("mid:") and len(hashed) <= 128


def test_a_mail_without_a_sender_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="sender"):
        parse_mail(b"Subject: x\r\n\r\nhello\r\n")


def test_subjects_lose_reply_prefixes_and_ticket_tags() -> None:
    assert bare_subject("Re: 回复：答复: 广告投放 [KF-20261206-0001]") == "广告投放"
    assert bare_subject("Fwd: 转发: 报价") == "报价"


JUNK = {
    "auto-replied": {"Auto-Submitted": "auto-replied"},
    "auto-generated": {"Auto-Submitted": "auto-generated"},
    "bulk": {"Precedence": "bulk"},
    "list precedence": {"Precedence": "list"},
    "list-id": {"List-Id": "<news.agency.example.cn>"},
    "list-unsubscribe": {"List-Unsubscribe": "<mailto:unsub@x.example.cn>"},
    "x-autoreply": {"X-Autoreply": "yes"},
}


@pytest.mark.parametrize("headers", JUNK.values(), ids=JUNK.keys())
def test_automatic_and_list_mails_get_no_answer(headers: dict[str, str]) -> None:
    parsed = parse_mail(
        mail("z@c.example.cn", "kefu@agency.example.cn", "hi", "hello", "<j@c>", headers=headers).as_bytes()
    )
    assert reason_not_to_answer(parsed, OURS) is not None


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.net",
        "postmaster@client.example.cn",
        "noreply@client.example.cn",
        "kefu@agency.example.cn",
    ],
)
def test_machines_and_ourselves_get_no_answer(sender: str) -> None:
    parsed = parse_mail(mail(sender, "kefu@agency.example.cn", "hi", "hello", "<s@c>").as_bytes())
    assert reason_not_to_answer(parsed, OURS) is not None


def test_bounces_and_vacation_notices_get_no_answer_but_people_do() -> None:
    assert reason_not_to_answer(parse_mail(bounce("kefu@agency.example.cn", "<b@mx>", "x@c.example.cn")), OURS)
    vacation = parse_mail(vacation_reply("z@c.example.cn", "kefu@agency.example.cn", "<v@c>", "<x@a>"))
    assert reason_not_to_answer(vacation, OURS) == "Auto-Submitted: auto-replied"
    # A vacation notice without the header (older servers) is known by its subject.
    bare = mail("z@c.example.cn", "kefu@agency.example.cn", "自动回复：休假中", "休假中", "<v2@c>").as_bytes()
    assert reason_not_to_answer(parse_mail(bare), OURS) == "auto-reply subject"
    person = mail(
        "z@c.example.cn", "kefu@agency.example.cn", "投诉", "hello", "<p@c>", headers={"Auto-Submitted": "no"}
    )
    assert reason_not_to_answer(parse_mail(person.as_bytes()), OURS) is None


def _account(**changes: object) -> EmailAccount:
    base = EmailAccount(
        address="kefu@agency.example.cn",
        imap_host="127.0.0.1",
        username="kefu@agency.example.cn",
        password="x",  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
    )
    return base.model_copy(update=changes)


def test_attachments_are_kept_within_type_and_size_limits(tmp_path: Path) -> None:
    message = mail("z@c.example.cn", "kefu@agency.example.cn", "截图", "见附件", "<a@c>")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="截图.png")
    message.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe")
    message.add_attachment(b"%PDF-1.4 " + b"x" * 5000, maintype="application", subtype="pdf", filename="合同.pdf")
    # Many clients send documents as octet-stream: the name says what they are.
    message.add_attachment(b"a,b\n1,2\n", maintype="application", subtype="octet-stream", filename="数据.csv")
    parsed = parse_mail(message.as_bytes())
    store = MediaStore(tmp_path, max_bytes=1000)
    kept = keep_attachments(_account(attachment_max_bytes=1000), store, parsed)
    assert [(a.name, a.mime_type, a.kind) for a in kept.attachments] == [
        ("截图.png", "image/png", "image"),
        ("数据.csv", "text/csv", "file"),
    ]
    assert Path(kept.attachments[0].local_path or "").read_bytes() == PNG
    assert [r["name"] for r in kept.refused] == ["setup.exe", "合同.pdf"]
    assert not list(tmp_path.glob("*.part")), "a refused file leaves nothing behind"
    # The same mail again (read twice after a restart) finds its files and writes nothing new.
    again = keep_attachments(_account(attachment_max_bytes=1000), store, parsed)
    assert again.attachments == kept.attachments
    inbound = to_inbound(_account(), parsed, kept, max_chars=4000)
    assert inbound.payload["refused_attachments"] == list(kept.refused)
    assert inbound.email == "z@c.example.cn"


def test_a_first_mail_carries_its_subject_and_a_reply_does_not(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=100_000)
    first = parse_mail(mail("z@c.example.cn", "k@a.example.cn", "发票还没收到", "上个月的", "<1@c>").as_bytes())
    reply = parse_mail(
        mail("z@c.example.cn", "k@a.example.cn", "Re: 发票", "收到了", "<2@c>", in_reply_to="<0@a>").as_bytes()
    )
    assert (
        to_inbound(_account(), first, keep_attachments(_account(), store, first), 4000).text == "发票还没收到\n上个月的"
    )
    assert to_inbound(_account(), reply, keep_attachments(_account(), store, reply), 4000).text == "收到了"
    # A first mail opens a thread of its own (with a ticket filed, another issue); a reply does not.
    assert to_inbound(_account(), first, keep_attachments(_account(), store, first), 4000).payload["new_thread"]
    assert "new_thread" not in to_inbound(_account(), reply, keep_attachments(_account(), store, reply), 4000).payload
    # A reply that is only a screenshot is an image message.
    shot = mail("z@c.example.cn", "k@a.example.cn", "Re: 截图", "", "<3@c>", in_reply_to="<0@a>")
    shot.add_attachment(PNG, maintype="image", subtype="png", filename="a.png")
    parsed = parse_mail(shot.as_bytes())
    inbound = to_inbound(_account(), parsed, keep_attachments(_account(), store, parsed), 4000)
    assert inbound.type is MessageType.IMAGE and inbound.text == ""


def test_a_long_mail_is_cut_to_what_the_dialogue_reads() -> None:
    parsed = parse_mail(
        mail("z@c.example.cn", "k@a.example.cn", "Re: x", "很长" * 3000, "<l@c>", in_reply_to="<0@a>").as_bytes()
    )
    inbound = to_inbound(
        _account(), parsed, keep_attachments(_account(), MediaStore(Path("/nonexistent"), 1), parsed), 4000
    )
    assert len(inbound.text) == 4000 and inbound.payload["text_chars"] == 6000


def test_only_a_permanent_failure_names_a_recipient_gone() -> None:
    assert failed_recipients(parse_mail(bounce("k@a.example.cn", "<b@mx>", "Li@Client.example.cn"))) == [
        "li@client.example.cn"
    ]
    assert failed_recipients(parse_mail(bounce("k@a.example.cn", "<b@mx>", "li@client.example.cn", "4.2.2"))) == []
    assert failed_recipients(parse_mail(mail("li@c.example.cn", "k@a.example.cn", "x", "y", "<n@c>").as_bytes())) == []
