"""WeChat's signed, AES-encrypted callback envelope (Official Account safe mode, WeCom): freshness, signature, AES."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

# wechatpy.crypto.PrpCrypto and wechatpy.work.crypto.PrpCrypto are the same BasePrpCrypto (AES-256-CBC, the key's
# first 16 bytes as IV, PKCS#7 to 32 bytes, random16 + length + text + receiver id); they differ only in the
# exception raised when the receiver id does not match (InvalidAppIdException or InvalidCorpIdException), and
# every exception of decryption becomes BadEnvelope here. So one serves the app id and the corp id alike.
from wechatpy.crypto import PrpCrypto

from bots.wechat.signing import BadSignature, same, sign


class _Prp(PrpCrypto):  # type: ignore[misc]
    """wechatpy's cipher with a cheaper random prefix: 16 hex digits from `secrets` (WeChat discards them)."""

    def get_random_string(self) -> str:
        # wechatpy draws 16 distinct letters with random.sample: some sixty Python calls for every reply.
        return secrets.token_hex(8)


# wechatpy's envelope of an encrypted passive reply (WeChatCrypto.encrypt_message), character for character.
_SEALED = """<xml>
<Encrypt><![CDATA[{encrypt}]]></Encrypt>
<MsgSignature><![CDATA[{signature}]]></MsgSignature>
<TimeStamp>{timestamp}</TimeStamp>
<Nonce><![CDATA[{nonce}]]></Nonce>
</xml>"""

# A Unix timestamp in seconds has 10 digits until the year 2286; anything longer is not one.
MAX_TIMESTAMP_DIGITS = 12


class BadEnvelope(ValueError):
    """The body is not a callback kefu can read: malformed or hostile XML, no Encrypt field, undecryptable.

    BadSignature is deliberately not one: a forged callback is answered 403, an unreadable one 400, and a
    handler catching BadEnvelope must never turn the first into the second.
    """


def fresh(timestamp: str, *, now: datetime, skew_seconds: int) -> bool:
    """Whether a callback's timestamp (ASCII digits only, at most 12) lies within `skew_seconds` of `now`."""
    # isdigit alone lets through "²" (int() refuses it) and other scripts' digits (int() reads them).
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        return False
    return abs(now.timestamp() - int(timestamp)) <= skew_seconds


def xml_root(xml: str | bytes, what: str) -> Any:
    """The content of the `<xml>` root element; BadEnvelope for hostile or broken XML or another root."""
    try:
        # Entities are refused by xmltodict's default too; said here so that no change of default lets them in.
        return xmltodict.parse(xml, disable_entities=True)["xml"]
    # xmltodict refuses DOCTYPE entities with ValueError (XXE, billion laughs); the rest are wrong shapes.
    except (ValueError, ExpatError, KeyError, TypeError) as exc:
        raise BadEnvelope(f"unreadable {what}: {type(exc).__name__}") from None


class EnvelopeKey:
    """One receiver's secrets (token, AES key, app id or corp id): checks and opens the envelopes sent to it."""

    def __init__(self, *, token: str, encoding_aes_key: str, receiver_id: str) -> None:
        self._token = token
        # The settings have checked the EncodingAESKey (43 characters of base64 for 32 bytes); "=" completes it.
        # One cipher for every envelope, opened or sealed (wechatpy's WeChatCrypto builds one per message).
        self._crypto = _Prp(base64.b64decode(encoding_aes_key + "="))
        self._receiver_id = receiver_id

    def open(self, body: bytes, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The inner XML of an envelope `<xml><Encrypt>…</Encrypt></xml>`, decrypted once its signature checked out."""
        outer = xml_root(body, "envelope")
        encrypted = outer.get("Encrypt") if isinstance(outer, dict) else None
        if not isinstance(encrypted, str):
            raise BadEnvelope("Encrypt missing")
        return self.decrypt_signed(encrypted, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)

    def decrypt_signed(self, encrypted: str, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        """`encrypted` (an Encrypt field, or WeCom's echostr) decrypted, only if msg_signature covers it."""
        # Checked before decrypting: nothing unsigned reaches the AES code or its padding arithmetic.
        if not same(sign(self._token, timestamp, nonce, encrypted), msg_signature):
            raise BadSignature("msg_signature mismatch")
        try:
            return str(self._crypto.decrypt(encrypted, self._receiver_id))
        # A wrong key or a forged blob fails anywhere in base64, AES, padding, length or receiver id checks.
        except Exception as exc:
            raise BadEnvelope(f"cannot decrypt: {type(exc).__name__}") from None

    def seal(self, xml: str, *, nonce: str, timestamp: str) -> str:
        """`xml` (a passive reply) encrypted for the receiver and signed, as wechatpy's encrypt_message writes it."""
        encrypted = bytes(self._crypto.encrypt(xml, self._receiver_id)).decode("ascii")
        signature = sign(self._token, timestamp, nonce, encrypted)
        return _SEALED.format(encrypt=encrypted, signature=signature, timestamp=timestamp, nonce=nonce)
