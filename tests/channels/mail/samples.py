"""Mails as clients' programs write them: Foxmail, Outlook (zh), Gmail; auto-replies and bounces."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

# A 1×1 PNG: the smallest screenshot there is.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
DATE = format_datetime(datetime(2026, 12, 6, 7, 0, tzinfo=UTC))


def mail(
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    *,
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    headers: dict[str, str] | None = None,
    html: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = DATE
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references or in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset=charset)
    if html is not None:
        message.add_alternative(html, subtype="html", charset=charset)
    return message


def complaint_with_screenshot(sender: str, to: str, message_id: str) -> bytes:
    message = mail(
        f"张三 <{sender}>",
        to,
        "投诉：广告投放一直没效果",
        "你好，我要投诉，你们的广告投放一直没效果，截图见附件。\n\n张三\n北京某某科技有限公司",
        message_id,
    )
    message.add_attachment(PNG, maintype="image", subtype="png", filename="截图.png")
    return message.as_bytes()


def foxmail_reply(
    sender: str, to: str, subject: str, text: str, message_id: str, in_reply_to: str, quoted: str, references: str = ""
) -> bytes:
    """Foxmail / QQ Mail: GBK, the dashed "原始邮件" line, half-width header names, the whole history below."""
    body = (
        f"{text}\n\n\n"
        "------------------ 原始邮件 ------------------\n"
        f'发件人: "客户服务中心"<{to}>;\n'
        "发送时间: 2026年12月6日(星期天) 下午3:00\n"
        f'收件人: "张三"<{sender}>;\n'
        f"主题: {subject}\n\n"
        f"{quoted}\n"
    )
    return mail(
        f"=?gbk?b?{base64.b64encode('张三'.encode('gbk')).decode()}?= <{sender}>",
        to,
        f"回复：{subject}",
        body,
        message_id,
        in_reply_to=in_reply_to,
        references=f"{references} {in_reply_to}".strip(),
        charset="gbk",
    ).as_bytes()


def outlook_reply(
    sender: str, to: str, subject: str, text: str, message_id: str, in_reply_to: str, quoted: str, references: str = ""
) -> bytes:
    """Outlook in Chinese: full-width header names, HTML beside the text, a signature above the quote."""
    body = (
        f"{text}\n\n张三 | 市场部\n\n"
        f"发件人： 客户服务中心 <{to}>\n"
        "发送时间： 2026年12月6日 15:00\n"
        f"收件人： 张三 <{sender}>\n"
        f"主题： {subject}\n\n"
        f"{quoted}\n"
    )
    html = (
        f"<html><body><div>{text}</div><div>张三 | 市场部</div>"
        f'<div id="divRplyFwdMsg"><b>发件人：</b> 客户服务中心<br><b>发送时间：</b> 2026年12月6日 15:00<br>'
        f"<b>主题：</b> {subject}</div><div>{quoted}</div></body></html>"
    )
    return mail(
        f"张三 <{sender}>",
        to,
        f"答复: {subject}",
        body,
        message_id,
        in_reply_to=in_reply_to,
        references=f"{references} {in_reply_to}".strip(),
        html=html,
    ).as_bytes()


def vacation_reply(sender: str, to: str, message_id: str, in_reply_to: str) -> bytes:
    return mail(
        sender,
        to,
        "休假自动回复：我正在休假",
        "您好，我12月1日至12月10日休假，期间邮件不能及时回复。",
        message_id,
        in_reply_to=in_reply_to,
        headers={"Auto-Submitted": "auto-replied"},
    ).as_bytes()


def bounce(to: str, message_id: str, failed: str, status: str = "5.1.1") -> bytes:
    """A delivery status notification (RFC 3464) from the mail server, as Postfix writes one."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {DATE}\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"This is the mail system. Your message to <{failed}> could not be delivered.\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
        "--b1--\r\n"
    ).encode()
