"""The new part of a client's reply: quoted history and signatures cut with mail-parser-reply.

Chinese mail clients write their quote headers in forms the parser does not know (Foxmail's and QQ Mail's
"------------------ 原始邮件 ------------------", Outlook's full-width "发件人：", "在 … 写道："); those lines
are rewritten into forms it does know before parsing.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

_PARSER = EmailReplyParser(languages=["zh", "en"])
_SEPARATOR = "-----Original Message-----"
_REWRITES = (
    # Foxmail, QQ Mail, Outlook (zh): a dashed "original mail" line starts the quoted mail.
    (re.compile(r"^[ \t>]*-{3,}\s*(?:原始邮件|原始郵件|转发邮件|轉寄郵件)\s*-{3,}[ \t]*$", re.M), _SEPARATOR),
    # "在 2026年12月6日 15:00，客服 <kefu@…> 写道：" (Apple Mail, Gmail, Thunderbird in Chinese).
    (re.compile(r"^[ \t>]*(?:在|于)?\s*\S.*?(?:写道|寫道)\s*[:：]\s*$", re.M), _SEPARATOR),
    # Outlook (zh) and many webmails: header names with a full-width colon.
    (
        re.compile(r"^([ \t>]*\**)(发件人|發件人|发送时间|發送時間|收件人|抄送|主题|主旨|日期)\s*\**\s*：", re.M),
        r"\1\2: ",
    ),
)
# Phone signatures ("发自我的iPhone", "从我的 华为手机 发送") on the last lines of the reply.
_SENT_FROM = re.compile(r"(?:\n\s*(?:发自我的|從我的|从我的|发自|Sent from my)[^\n]{0,40})+\s*\Z", re.I)


def latest_reply(text: str, sender_name: str = "") -> str:
    """What the client wrote this time, without quotes or signature; the whole text if nothing else is left.

    A last paragraph that starts with the sender's own name ("张三 | 市场部") is their signature too: most
    clients' signatures have no "--" line the parser could go by.
    """
    normalized = text.replace("\r\n", "\n")
    for pattern, replacement in _REWRITES:
        normalized = pattern.sub(replacement, normalized)
    message = _PARSER.read(normalized)
    reply = message.replies[0].body if message.replies else normalized
    reply = _SENT_FROM.sub("", "\n" + reply).strip()
    paragraphs = re.split(r"\n\s*\n", reply)
    name = sender_name.strip()
    if len(name) >= 2 and len(paragraphs) > 1 and paragraphs[-1].lstrip().startswith(name):
        reply = "\n\n".join(paragraphs[:-1]).strip()
    # A mail that is only a quote (forwarded without a word) keeps its text: better too much than nothing.
    return reply or text.strip()
