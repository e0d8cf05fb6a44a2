"""The shared callback envelope: freshness, msg_signature before any decryption, hostile XML, keys and receiver ids."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.work.crypto import WeChatCrypto as WorkCrypto

from bots.wechat.convert import BadMessage
from bots.wechat.envelope import BadEnvelope, EnvelopeKey, fresh
from bots.wechat.kf_routes import BadCallback
from bots.wechat.signing import BadSignature, sign

TOKEN = "envelope-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
APP_ID = "wx0123456789abcdef"
CORP_ID = "ww0123456789abcdef"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
NONCE = "n0nce"
INNER = "<xml><Content><![CDATA[你好]]></Content></xml>"


def key(receiver_id: str = APP_ID, aes_key: str = AES_KEY) -> EnvelopeKey:
    return EnvelopeKey(token=TOKEN, encoding_aes_key=aes_key, receiver_id=receiver_id)


def sealed(inner: str = INNER, *, receiver_id: str = APP_ID, aes_key: str = AES_KEY) -> tuple[bytes, str]:
    """An envelope as wechatpy seals it (what WeChat sends), and its msg_signature."""
    xml = WeChatCrypto(TOKEN, aes_key, receiver_id).encrypt_message(inner, NONCE, TS)
    return xml.encode("utf-8"), xmltodict.parse(xml)["xml"]["MsgSignature"]


def signed_body(encrypt: str) -> tuple[bytes, str]:
    """An envelope around any Encrypt text, correctly signed with the token."""
    return f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode(), sign(TOKEN, TS, NONCE, encrypt)


def open_(envelope: EnvelopeKey, body: bytes, msg_signature: str) -> str:
    return envelope.open(body, msg_signature=msg_signature, timestamp=TS, nonce=NONCE)


@pytest.fixture
def decryptions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text handed to wechatpy's AES decryption during the test."""
    seen: list[str] = []
    real = PrpCrypto.decrypt

    def recording(self: PrpCrypto, text: Any, app_id: str) -> Any:
        seen.append(text)
        return real(self, text, app_id)

    monkeypatch.setattr(PrpCrypto, "decrypt", recording)
    return seen


# ------------------------------------------------------------ good envelopes


def test_an_envelope_sealed_by_wechatpy_opens_to_its_inner_xml(decryptions: list[str]) -> None:
    body, signature = sealed()
    assert open_(key(), body, signature) == INNER
    assert len(decryptions) == 1


def _form(xml: str) -> str:
    fields = xmltodict.parse(xml)["xml"]
    return xml.replace(fields["Encrypt"], "E").replace(fields["MsgSignature"], "S")


def test_a_sealed_reply_opens_with_wechatpy_as_wechat_opens_it_and_has_wechatpys_form() -> None:
    envelope = key()
    xml = envelope.seal(INNER, nonce=NONCE, timestamp=TS)
    fields = xmltodict.parse(xml)["xml"]
    assert (fields["TimeStamp"], fields["Nonce"]) == (TS, NONCE)
    assert WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(xml, fields["MsgSignature"], TS, NONCE) == INNER
    # Character for character what wechatpy writes, but for the encrypted text and the signature over it.
    theirs = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(INNER, NONCE, TS)
    assert _form(xml) == _form(theirs)
    # A random prefix of its own in every envelope: the same reply never encrypts the same way twice.
    assert xmltodict.parse(envelope.seal(INNER, nonce=NONCE, timestamp=TS))["xml"]["Encrypt"] != fields["Encrypt"]
    assert open_(envelope, xml.encode(), fields["MsgSignature"]) == INNER


def test_a_wecom_envelope_opens_with_the_corp_id() -> None:
    # wechatpy's work crypto seals WeCom's envelopes; the one PrpCrypto opens them.
    xml = WorkCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(INNER, NONCE, TS)
    body, signature = xml.encode(), xmltodict.parse(xml)["xml"]["MsgSignature"]
    assert open_(key(CORP_ID), body, signature) == INNER


def test_a_signed_echostr_decrypts() -> None:
    echostr = PrpCrypto(base64.b64decode(AES_KEY + "=")).encrypt("echo-1234", CORP_ID).decode()
    signature = sign(TOKEN, TS, NONCE, echostr)
    assert key(CORP_ID).decrypt_signed(echostr, msg_signature=signature, timestamp=TS, nonce=NONCE) == "echo-1234"


# ------------------------------------------------------------ signatures


@pytest.mark.parametrize(
    "forge",
    [
        lambda sig, enc: "",
        lambda sig, enc: sig[:-1] + ("0" if sig[-1] != "0" else "1"),
        lambda sig, enc: sign("other-token", TS, NONCE, enc),
        lambda sig, enc: sign(TOKEN, str(int(TS) + 1), NONCE, enc),
        lambda sig, enc: sign(TOKEN, TS, "other", enc),
        lambda sig, enc: sign(TOKEN, TS, NONCE, enc + "A"),
        lambda sig, enc: sign(TOKEN, TS, NONCE),
    ],
    ids=["empty", "one-char", "other-token", "other-timestamp", "other-nonce", "other-encrypt", "no-encrypt"],
)
def test_a_wrong_msg_signature_never_reaches_decryption(forge: Any, decryptions: list[str]) -> None:
    body, signature = sealed()
    encrypt = xmltodict.parse(body)["xml"]["Encrypt"]
    with pytest.raises(BadSignature, match=r"^msg_signature mismatch$"):
        open_(key(), body, forge(signature, encrypt))
    with pytest.raises(BadSignature):
        key().decrypt_signed(encrypt, msg_signature=forge(signature, encrypt), timestamp=TS, nonce=NONCE)
    assert decryptions == []


def test_garbage_under_a_wrong_signature_is_a_signature_failure_not_a_decryption_one() -> None:
    body, signature = signed_body("not base64 at all!")
    with pytest.raises(BadSignature):
        open_(key(), body, sign("other-token", TS, NONCE, "not base64 at all!"))
    with pytest.raises(BadEnvelope, match="cannot decrypt"):
        open_(key(), body, signature)


def test_a_signature_failure_is_not_a_bad_envelope() -> None:
    # Handlers answer BadEnvelope 400 and BadSignature 403: one must never be caught as the other.
    assert not issubclass(BadSignature, BadEnvelope)
    assert issubclass(BadMessage, BadEnvelope) and issubclass(BadCallback, BadEnvelope)


# ------------------------------------------------------------ hostile and broken envelopes

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&secret;</Encrypt></xml>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b"<xml><Encrypt>&d;</Encrypt></xml>"
)


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_entities_are_refused_before_any_signature_or_decryption(body: bytes, decryptions: list[str]) -> None:
    # Whatever the entity would expand to, no signature over it could be right: refused as unreadable.
    with pytest.raises(BadEnvelope, match="unreadable envelope: ValueError"):
        open_(key(), body, sign(TOKEN, TS, NONCE, "lol" * 1000))
    assert decryptions == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "unreadable envelope: ExpatError"),
        (b"not xml", "unreadable envelope: ExpatError"),
        (b"<xml><Encrypt>abc</Encrypt>", "unreadable envelope: ExpatError"),
        (b"<other><Encrypt>abc</Encrypt></other>", "unreadable envelope: KeyError"),
        (b"<xml/>", "Encrypt missing"),
        (b"<xml><ToUserName>gh</ToUserName></xml>", "Encrypt missing"),
        (b"<xml><Encrypt/></xml>", "Encrypt missing"),
        (b"<xml><Encrypt><a>abc</a></Encrypt></xml>", "Encrypt missing"),
        (b'<xml><Encrypt kind="x">abc</Encrypt></xml>', "Encrypt missing"),
        (b"<xml><Encrypt>abc</Encrypt><Encrypt>def</Encrypt></xml>", "Encrypt missing"),
    ],
    ids=[
        "empty",
        "text",
        "unclosed",
        "other-root",
        "empty-root",
        "no-encrypt",
        "empty-encrypt",
        "nested",
        "attr",
        "twice",
    ],
)
def test_an_envelope_without_one_encrypt_text_is_refused(body: bytes, reason: str, decryptions: list[str]) -> None:
    with pytest.raises(BadEnvelope) as refused:
        open_(key(), body, sign(TOKEN, TS, NONCE, "abc"))
    assert str(refused.value) == reason
    assert decryptions == []


# ------------------------------------------------------------ keys and receivers


def test_another_key_cannot_decrypt() -> None:
    body, signature = sealed(aes_key=OTHER_AES_KEY)
    with pytest.raises(BadEnvelope, match="cannot decrypt"):
        open_(key(), body, signature)


def test_an_envelope_for_another_receiver_is_refused() -> None:
    body, signature = sealed(receiver_id="wxSomeoneElse000")
    with pytest.raises(BadEnvelope, match="cannot decrypt: InvalidAppIdException"):
        open_(key(), body, signature)
    # The corp id is checked the same way.
    with pytest.raises(BadEnvelope, match="cannot decrypt"):
        open_(key(CORP_ID), *sealed(receiver_id=APP_ID))


@pytest.mark.parametrize("encrypt", ["", "QUJD", "A" * 44, "!!!!", base64.b64encode(b"\x00" * 32).decode()])
def test_signed_garbage_is_a_decryption_failure_never_a_crash(encrypt: str) -> None:
    signature = sign(TOKEN, TS, NONCE, encrypt)
    with pytest.raises(BadEnvelope, match="cannot decrypt"):
        key().decrypt_signed(encrypt, msg_signature=signature, timestamp=TS, nonce=NONCE)


# ------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("timestamp", "ok"),
    [
        (TS, True),
        (str(int(TS) - 300), True),
        (str(int(TS) + 300), True),
        (str(int(TS) - 301), False),
        (str(int(TS) + 301), False),
        ("00" + TS, True),
        ("000" + TS, False),
        ("", False),
        ("-1", False),
        (" " + TS, False),
        (TS + ".0", False),
        ("1e9", False),
        ("²", False),
        # The very time, in Arabic-Indic digits: int() reads them, WeChat never sends them.
        (TS.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), False),
    ],
    ids=[
        "now",
        "skew-before",
        "skew-after",
        "stale",
        "future",
        "12-digits",
        "13-digits",
        "empty",
        "negative",
        "space",
        "decimal",
        "exponent",
        "superscript",
        "arabic-indic",
    ],
)
def test_freshness(timestamp: str, ok: bool) -> None:
    assert fresh(timestamp, now=NOW, skew_seconds=300) is ok


def test_freshness_follows_the_allowed_skew() -> None:
    an_hour_ago = str(int(TS) - 3600)
    assert not fresh(an_hour_ago, now=NOW, skew_seconds=300)
    assert fresh(an_hour_ago, now=NOW, skew_seconds=3600)
