"""Details a client gives in passing: phone numbers, e-mail, dates, amounts, the project, ticket numbers, their demand.

Pure functions of the text (and of `today` for dates): no database, no I/O once the libraries are loaded.
Entities are taken in a fixed order, each masking its span for the next (ticket numbers, e-mail, phones,
dates, amounts), so that the digits of one are never read as another.

One module because entities are taken in a fixed order, each masking its span for the next; the date
normaliser is apart (`dates.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import phonenumbers as pn

from core.dialogue.dates import DateMention, Found, find_dates
from core.dialogue.folding import MASK, Folded, fold
from core.dialogue.numerals import CN_DIGITS, CN_NUMERAL, to_decimal

__all__ = [
    "Amount",
    "DateMention",
    "Entities",
    "extract",
    "find_phones",
    "find_ticket_numbers",
    "preload",
    "sole_entity",
    "sole_project",
    "sole_ticket_number",
]


@dataclass(frozen=True, slots=True)
class Amount:
    """A sum of money the client wrote, its value and currency (None when they named none)."""

    text: str
    value: Decimal
    currency: str | None


@dataclass(frozen=True, slots=True)
class Entities:
    """Everything `extract` found in one message; empty tuples and None for what is not there."""

    phones: tuple[str, ...]
    emails: tuple[str, ...]
    dates: tuple[DateMention, ...]
    amounts: tuple[Amount, ...]
    project: str | None
    ticket_numbers: tuple[str, ...]
    demand: str | None
    # The project a message is about without naming it as one ("周年庆的预算…", "our spring launch"): good
    # enough to prefill a form the client will confirm, never to overwrite a detail already given.
    project_guess: str | None = None
    # Messenger accounts given as such, in the client's words ("微信 abc123", "QQ 12345678").
    handles: tuple[str, ...] = ()


Span = tuple[int, int]

# --- ticket numbers and e-mail ---------------------------------------------------------------------------------

_TICKET = re.compile(r"(?<![a-z0-9])kf\s*[-_–—]?\s*(\d{8})\s*[-_–—]?\s*(\d{4,6})(?!\d)")
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?![a-z0-9-])")


def _tickets(folded: str) -> tuple[list[str], list[Span]]:
    numbers, spans = [], []
    for m in _TICKET.finditer(folded):
        numbers.append(f"KF-{m[1]}-{m[2]}")
        spans.append(m.span())
    return numbers, spans


def find_ticket_numbers(text: str) -> tuple[str, ...]:
    """Ticket numbers in canonical form ("kf 20261129 0001" -> "KF-20261129-0001")."""
    return tuple(dict.fromkeys(_tickets(fold(text).folded)[0]))


# Words that go with a ticket number and add nothing to it ("工单号：KF-…", "my ticket is KF-…").
_ALONGSIDE_TICKET = re.compile(
    r"工单编号|工单号|工单|单号|编号|号码|我的|是|查一下|查查|帮我查|请查|麻烦|谢谢|"
    r"(?<![a-z])(?:my|ticket|case|number|no|is|it's|please|check|thanks)(?![a-z])"
)


def sole_ticket_number(text: str) -> str | None:
    """The ticket number when that is all the message says ("KF-20261129-0001", "工单号 kf20261129 0001")."""
    folded = fold(text)
    numbers, spans = _tickets(folded.folded)
    if len(set(numbers)) != 1:
        return None
    rest = folded.masked(spans)
    return numbers[0] if not _PUNCTUATION.sub("", _ALONGSIDE_TICKET.sub(" ", rest)) else None


# --- phone numbers ---------------------------------------------------------------------------------------------

# Digits right after these labels are some other number, whatever their shape.
_NOT_A_PHONE_LABEL = re.compile(
    r"(?:订单号?|单号|工单号?|账户|账号|户号|流水号|编号|合同号|发票号|税号|order|account|qq|id)\s*(?:号|no\.?|#)?\s*[:：]?\s*$"
)


_DIGIT_RUN = re.compile(r"\d(?:[\s\-()./]*\d){6}")


# A landline with its extension ("010-62345678转801", "0755 8600 1234 分机 12", "(021)54321098-23"): the matcher
# reads the extension's digits as part of the number, or finds no number at all.
_LANDLINE_EXTENSION = re.compile(
    r"(?<![\d+])\(?(0\d{2,3})\)?[\s\-]?(\d{3,4}[\s\-]?\d{4})\s*(?:转|分机|ext\.?|x|-)\s*(\d{1,5})(?![\d\-])"
)


def _landlines_with_extension(folded: str) -> list[tuple[Span, str]]:
    found = []
    for m in _LANDLINE_EXTENSION.finditer(folded):
        if _NOT_A_PHONE_LABEL.search(folded, 0, m.start()):
            continue
        national = m[1] + re.sub(r"\D", "", m[2])
        if pn.is_valid_number(pn.parse(national, "CN")):
            found.append((m.span(), f"{national}转{m[3]}"))
    return found


def _phones(folded: str) -> tuple[tuple[str, ...], tuple[Span, ...]]:
    # The matcher costs about 0.1 ms even on a message without a number: only texts with a run of seven digits
    # (separators allowed) are handed to it.
    if not _DIGIT_RUN.search(folded):
        return (), ()
    return _matched_phones(folded)


# The matcher is the dearest reading of a message, and one turn hands it the same text again (`find_phones` and
# `extract` read the same message, masked alike unless it holds an e-mail address).
@lru_cache(maxsize=256)
def _matched_phones(folded: str) -> tuple[tuple[str, ...], tuple[Span, ...]]:
    extended = _landlines_with_extension(folded)
    if extended:
        # Taken whole; the matcher reads the rest of the message.
        chars = list(folded)
        for (start, end), _ in extended:
            chars[start:end] = MASK * (end - start)
        others, at = _phones("".join(chars))
        found = sorted([*extended, *zip(at, others, strict=True)])
        return tuple(number for _, number in found), tuple(span for span, _ in found)
    numbers: list[str] = []
    spans: list[Span] = []
    # VALID leniency accepts only numbers that exist in the numbering plan, which rejects order numbers, dates and
    # amounts that merely have the right length.
    for match in pn.PhoneNumberMatcher(folded, "CN", leniency=pn.Leniency.VALID):
        if _NOT_A_PHONE_LABEL.search(folded, 0, match.start):
            continue
        number = match.number
        if number.country_code == 86:
            national = pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)
            normalised = "".join(c for c in national if c.isdigit())
        else:
            normalised = pn.format_number(number, pn.PhoneNumberFormat.E164)
        numbers.append(normalised)
        spans.append((match.start, match.end))
    return tuple(numbers), tuple(spans)


def find_phones(text: str) -> tuple[str, ...]:
    """Phone numbers anywhere in the text: CN mobile "13800138000", CN landline "01012345678", others E.164."""
    folded = fold(text)
    _, taken = _tickets(folded.folded)
    return tuple(dict.fromkeys(_phones(folded.masked(taken))[0]))


# --- messenger accounts ----------------------------------------------------------------------------------------

# A WeChat or QQ account named as such ("微信 abc123", "vx: abc_123", "我的QQ是 12345678"). A WeChat ID is 6 to 20
# letters, digits, "_" or "-" and begins with a letter; a QQ number has 5 to 11 digits. Without its label an ID is
# only a word ("abc123"); with it, letters alone are an ID only after 号, 是 or a colon: "微信 banner" is an ad.
_WECHAT = r"(?:(?<![a-z])(?:wechat|weixin|wx|vx)|微信|威信|薇信|v信)"
_MARKED = r"(?:\s*(?:号|id|账号))?\s*(?:是|为|:|：)\s*@?|\s*(?:号|id|账号)\s*@?"
_HANDLE = re.compile(
    rf"{_WECHAT}(?:(?:{_MARKED})[a-z][a-z0-9_-]{{5,19}}|\s*@?[a-z](?=[a-z_-]*[0-9_-])[a-z0-9_-]{{5,19}})(?![a-z0-9_-])"
    r"|(?<![a-z])qq\s*(?:号码|号)?\s*(?:是|为|:|：)?\s*[1-9]\d{4,10}(?!\d)"
)


def _handles(folded: Folded, masked: str) -> tuple[list[str], list[Span]]:
    found = list(_HANDLE.finditer(masked))
    return [folded.words(*m.span()) for m in found], [m.span() for m in found]


# --- amounts ---------------------------------------------------------------------------------------------------

_NUMBER = (
    rf"(?:\d+(?:,\d{{3}})*(?:\.\d+)?(?:\s*(?:万|千|百|亿|k|w)(?:[\d{CN_DIGITS}](?![\d{CN_NUMERAL}]))?)?"
    rf"|[{CN_NUMERAL}]+(?:点[{CN_DIGITS}]+)?[万千百亿]?)"
)
_CURRENCY_BEFORE = r"(?P<cur>¥|rmb|cny|人民币|us\$|\$|usd)"
_CURRENCY_AFTER = r"(?P<cur>元|块钱|块(?!儿)|rmb|cny|人民币|美元|美金|刀|dollars?|usd|bucks)"
_CURRENCIES = {"¥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY", "元": "CNY", "块钱": "CNY", "块": "CNY"}
_CURRENCIES |= {"$": "USD", "us$": "USD", "usd": "USD", "美元": "USD", "美金": "USD", "刀": "USD"}
_CURRENCIES |= {"dollar": "USD", "dollars": "USD", "bucks": "USD"}
_AMOUNTS = (
    re.compile(rf"{_CURRENCY_BEFORE}\s*(?P<num>{_NUMBER})(?P<more>多)?"),
    re.compile(rf"(?<![\da-z.])(?P<num>{_NUMBER})\s*(?P<more>多)?\s*{_CURRENCY_AFTER}(?![a-z])"),
    # No currency: only a number with a magnitude ("三万五", "5千", "1.2万", "5k") reads as money.
    re.compile(
        rf"(?<![\da-z.])(?P<num>\d+(?:\.\d+)?\s*(?:万|千|k|w)(?:\d(?!\d))?|[{CN_NUMERAL}]*[{CN_DIGITS}十][{CN_NUMERAL}]*)"
        r"(?P<more>多)?(?![a-z\d])"
    ),
)
# What follows a bare number when it counts something other than money.
_COUNTED = re.compile(
    r"\s*(?:个|条|次|人|家|天|周|月|年|号|日|小时|分钟|分|秒|曝光|点击|展现|播放|阅读|粉|线索|单|张|篇|台|件|位|名|字|倍|%|km|kg)"
)
# ... and what precedes it ("曝光掉了5万", "补量5万").
_COUNTED_BEFORE = re.compile(
    r"(?:曝光|点击|展现|播放|阅读|粉丝?|线索|转化|量|浏览|访问|下载|关注|uv|pv)\s*(?:了|掉了|少了|只有|才|就|都|跌到|掉到|降到|到|有)?\s*$"
)
_MAGNITUDE = re.compile(r"[万千亿kw]")


def _amounts(folded: Folded, masked: str) -> tuple[list[Amount], list[Span]]:
    found: list[tuple[int, int, Amount]] = []
    for kind, pattern in enumerate(_AMOUNTS):
        for m in pattern.finditer(masked):
            number, currency = m["num"], m.groupdict().get("cur")
            if kind == 2:
                if not _MAGNITUDE.search(number) or _COUNTED.match(masked, m.end()):
                    continue
                if _COUNTED_BEFORE.search(masked, 0, m.start()):
                    continue
            value = to_decimal(number)
            if value is None or value <= 0:
                continue
            code = _CURRENCIES.get(currency.rstrip("s") if currency == "dollars" else currency) if currency else None
            found.append((m.start(), m.end(), Amount(folded.words(*m.span()), value, code)))
    amounts: list[Amount] = []
    spans: list[Span] = []
    taken_until = -1
    for start, end, amount in sorted(found, key=lambda f: (f[0], f[0] - f[1])):
        if start >= taken_until:
            amounts.append(amount)
            spans.append((start, end))
            taken_until = end
    return amounts, spans


# --- project names ---------------------------------------------------------------------------------------------

_QUOTED = re.compile(
    r"「([^」]{2,40})」|“([^”]{2,40})”|\"([^\"]{2,40})\"|《([^》]{2,40})》|『([^』]{2,40})』|(?<![a-z])'([^']{2,40})'"
)
_PROJECT_WORD = r"(?:项目|活动|推广计划|campaign|project)"
# Characters that end a name: punctuation, whitespace between Chinese words, and masked entities.
_NAME_END = f"，。！？!?；;：:、,()（）\n\t{MASK}"
# Words a name never starts with and never runs through: particles, pronouns, verbs of running ads, time words.
_NAME_STOP = re.compile(
    r"那个|这个|哪个|我们|我的|我们的|你们|咱们|他们|就是|关于|还有|一直|已经|突然|现在|目前|最近|开始|投放|"
    r"从|在|的|是|也|又|都|还|就|被|没|不|很|太|了|吗|呢|吧|啊|呀|上|里|跑|投|做|给|帮|把|用|说|这|那|有|"
    r"效果|数据|预算|素材|费用|消耗|账户|后台|情况|问题|进度|排期|广告|量|"
    # another detail's word: said in one breath ("项目是双十二大促电话是138…"), the name ends before it
    r"电话|手机|联系方式|邮箱|微信号"
)
_NAME_AFTER = re.compile(
    r"(?:(?:项目|活动)(?:名称|名字|名)(?:\s*(?:改成|改为|换成|应该是|叫做|叫|是|为))?"
    rf"|{_PROJECT_WORD}\s*(?:叫做|叫|是|为|:|：|is called|is named|called|named|name is|is|name)"
    r")\s*(?:[:：]|改成|改为|换成|应该是|should be|to)?\s*"
)
_SAID = re.compile(r"(?:说|讲|回复|答应|承诺|表示|告诉我|称|回|said|told|promised)\s*[:：]?\s*$")
_NAME_BEFORE = re.compile(rf"(?:那个|这个|的)?\s*{_PROJECT_WORD}")
# Campaigns are named after the season or shopping festival they run in: 暑期档, 元宵节, 双十一大促, 618, and its
# phases (618预热, 双十一返场).
_SEASON = re.compile(
    r"(?:暑期|寒假|开学季|贺岁|春节|国庆|五一|元旦|元宵|中秋|端午|七夕|清明|情人节|女神节|妇女节|劳动节|圣诞|"
    r"年货节|年中|年终|双十一|双11|双十二|双12|618|黑五)(?:节|档|大促|促销|季)?(?:预热|预售|返场|收官)?"
)
_EN_NAME_STOP = {"the", "our", "my", "your", "this", "that", "a", "an", "for", "of", "with", "in", "on", "and", "is"}
_EN_NAME_STOP |= {"was", "has", "your", "their", "new", "whole", "entire", "ad", "ads"}


# How many of a thing were made or run ("五千张", "两版", "三个", "上万份", "几百条"): a count, no part of a name. An
# ordinal ("第三期海报") is one.
_QUANTITY = re.compile(
    rf"(?<!第)(?:\d+|[{CN_NUMERAL}]+|几|好几|上|数)[{CN_NUMERAL}]*多?\s*"
    r"(?:张|份|条|个|支|套|批|款|版|页|本|幅|组|篇|段|部|集|场|期|块|面|箱|盒|卷|册|家|位|间)"
)


def _clean_name(name: str) -> str | None:
    name = name.strip(" -—_~·.'\"「」“”《》『』")
    if len(name) < 2 or len(name) > 30 or not any(c.isalnum() for c in name) or _QUANTITY.fullmatch(name):
        return None
    return name


def _name_after(masked: str, start: int) -> tuple[int, int] | None:
    """The name that starts at `start` and runs until punctuation, a stop word, or a space after Chinese."""
    end = start
    while end < len(masked) and masked[end] not in _NAME_END:
        if masked[end] == " " and end > start and not masked[end - 1].isascii():
            break
        if masked[end] == " " and end + 1 < len(masked) and not masked[end + 1].isascii():
            break
        # A full stop ends an English sentence and the name in it ("Project: Winter Glow. It started…"); a dot
        # inside a name ("v2.0", "618.com") does not.
        if masked[end] == "." and (end + 1 == len(masked) or masked[end + 1].isspace()):
            break
        stop = _NAME_STOP.match(masked, end)
        if stop and end > start and not masked[end - 1].isascii():
            break
        end += 1
    return (start, end) if end > start else None


def _name_before(masked: str, end: int) -> tuple[int, int] | None:
    """The name that ends at `end`: back to punctuation, then after the last stop word inside."""
    start = end
    while start > 0 and masked[start - 1] not in _NAME_END:
        start -= 1
    chunk = masked[start:end]
    if chunk.isascii():
        words = chunk.split()
        keep: list[str] = []
        for word in reversed(words):
            if word in _EN_NAME_STOP or len(keep) == 4:
                break
            keep.insert(0, word)
        name = " ".join(keep)
        return (end - len(chunk.rstrip()) + chunk.rstrip().rfind(name), end) if name else None
    last_stop = None
    for stop in _NAME_STOP.finditer(chunk):
        last_stop = stop
    if last_stop:
        start += last_stop.end()
    return (start, end) if end > start else None


def _project(folded: Folded, masked: str) -> str | None:
    for m in _NAME_AFTER.finditer(masked):
        span = _name_after(masked, m.end())
        if span and (name := _clean_name(folded.shown[span[0] : span[1]])):
            return name
    for m in _QUOTED.finditer(masked):
        inner = next(i for i in range(1, 7) if m[i] is not None)
        # Quotation marks also quote what someone said ("你们说“马上处理”"): those words are no name.
        said = m[0][0] in "“\"'" and _SAID.search(masked, 0, m.start())
        sentence = said or MASK in m[inner] or re.search(r"[，。！？!?]", m[inner])
        if not sentence and (name := _clean_name(folded.shown[m.start(inner) : m.end(inner)])):
            return name
    for m in _NAME_BEFORE.finditer(masked):
        span = _name_before(masked, m.start())
        if span and (name := _clean_name(folded.shown[span[0] : span[1]])):
            return name
    for m in _SEASON.finditer(masked):
        if name := _clean_name(folded.shown[m.start() : m.end()]):
            return name
    return None


# "项目是双十一那个", "活动叫春季焕新", "the campaign is called …": a message that opens by naming the project.
_LABELLED = re.compile(rf"\s*(?:就是|是|那个|the|our)?\s*(?:{_NAME_AFTER.pattern})")
_LEFT_OVER = re.compile(r"[\s，。！？!?；;、,.~…]|那个|这个|那次|这次|吧|啊|呀|哦|的|呢|嘛|哈|了")


def labelled_project(text: str) -> str | None:
    """The project when that is all the text says, named as the project ("项目是双十一那个", "活动叫春季焕新")."""
    folded = fold(text)
    opening = _LABELLED.match(folded.folded)
    if opening is None:
        return None
    span = _name_after(folded.folded, opening.end())
    name = _clean_name(folded.shown[span[0] : span[1]]) if span else None
    if name is None or _LEFT_OVER.sub("", folded.folded[span[1] :] if span else ""):
        return None
    return name


# Words around a name said alone as an answer ("就是那个春季新品传单", "春季新品的活动吧"): they add nothing to it.
_AROUND_NAME = re.compile(
    rf"{_LEFT_OVER.pattern}|[「」“”\"《》『』']|就是|是|叫|{_PROJECT_WORD}|(?<![a-z])(?:the|our|my|it's|it is)(?![a-z])"
)


def sole_project(text: str, today: date) -> str | None:
    """The project when that is all the text says: named as the project ("项目是双十一那个"), or a name alone, named or
    only guessed from what was made ("春季新品传单", "就是那个开业海报")."""
    named = labelled_project(text)
    if named is not None:
        return named
    found = extract(text, today)
    name = found.project or found.project_guess
    if name is None:
        return None
    folded = fold(text).folded
    at = folded.find(fold(name).folded)
    rest = folded[:at] + " " + folded[at + len(name) :] if at >= 0 else folded
    return None if at < 0 or _AROUND_NAME.sub("", rest) else name


# --- the project a message is about, when it is not named as one ----------------------------------------------

# What an agency makes or runs for a client: "店庆海报", "游戏推广的弹窗" name the project by what was made.
_MADE = (
    r"(?:宣传片|短视频|落地页|易拉宝|广告|推广|投放|素材|文案|海报|视频|短片|传单|大牌|设计|包装|提案|字幕|页面|链接|片|"
    r"短链|物料|画册|展架|弹窗|直播|h5|banner|deck)"
)
# What a project has that goes wrong: "周年庆的预算", "金融获客的线索", "百度搜索的账户".
_HAS = (
    rf"(?:{_MADE[3:-1]}|预算|账户|排期|线索|数据|图片|效果|消耗|曝光|点击|留资|二维码|尺寸|颜色|主播|推送|稿件|稿子|文章|"
    r"报告|用户|粉丝|评论|点位|价格|账单|结算|标题|logo|kv|字体|配色|音乐|配音|画面|镜头|剪辑|量)"
)
_TOPIC_OF = re.compile(rf"的\s*{_HAS}")
_LEADS_MADE = re.compile(rf"[\u4e00-\u9fffa-z0-9]{{1,8}}?{_MADE}+")
# Words before a name that say who or which, not what: cut after the last of them ("我们那个春季招商的投放").
_TOPIC_LEAD = re.compile(
    r"那个|这个|哪个|我们|我方|你们|咱们|他们|就是|关于|其实|然后|还有|感觉|觉得|发现|怎么|为什么|"
    r"(?:做|设计|制作|印|拍|投|写|剪|出)的|把|给|让|被|对|在|说|啊|呢|吧|了|是|也|又|都|还|就|我|你|"
    # "印了五千张新品传单": the name is what the count is of
    rf"{_QUANTITY.pattern}"
)
# Names that are no project: places an ad runs, the agency itself, time and deixis, and what was promised or
# expected rather than made ("承诺的曝光量只完成了一半", "合同的点位").
_NOT_A_TOPIC = re.compile(
    r"(?:公司|贵公司|这边|那边|之前|上次|这次|本次|每次|平台|后台|客服|系统|服务|所有|全部|整个|这些|那些|项目|活动|"
    r"承诺|答应|说好|约定|保证|要求|预期|预计|实际|合同|当初|原来|原本|"
    r"抖音|快手|微信|朋友圈|百度|淘宝|天猫|京东|小红书|微博|b站|头条|今日头条|腾讯|知乎|美团|公众号|视频号|"
    rf"{_MADE[3:-1]})"
)
# A word before what was made that is an action or a question, not part of a name ("想咨询广告", "不要投放").
_NOT_IN_NAME = re.compile(
    r"[想要问请能可是在的了把被给做有没不帮说看查怎么什哪吗呢多少这那每各该此本贵你我他她它也又都还就和跟与]"
)
_CLAUSE_BREAK = re.compile(rf"[，。！？!?；;,\s~…{MASK}]+")
_EN_MADE = (
    r"launch|campaign|promo|promotion|film|video|banner|poster|flyer|brochure|ads?|event|sale|livestream|"
    r"catalogue|catalog|newsletter|commercial|spot|retainer|contract|website|app|store|shop"
)
_EN_TOPIC = re.compile(rf"(?<![a-z])(our|the|my)\s+((?:[a-z0-9][a-z0-9'&-]*\s+){{1,3}}?(?:{_EN_MADE}))(?![a-z])")
_EN_NOT_A_NAME = _EN_NAME_STOP | {"landing", "whole", "last", "latest", "first", "same", "other", "wrong", "old"}
# "Winter Sale ads are showing…": a name in title case right before what was made, with no "our" or "the" to lead
# it. Two words at least, since a sentence's first word is capitalised anyway ("Banner ads", "Facebook ads").
_EN_TITLED = re.compile(
    rf"(?<![\w'&-])((?:[A-Z][\w'&-]*\s+){{1,4}})(?i:{_EN_MADE})(?![a-z])",
)


# Kinds of ads, not campaigns: "信息流广告的点击量掉了" names no project.
_AD_FORMAT = re.compile(rf"(?:信息流|开屏|搜索|朋友圈|贴片|横幅|竞价|效果|原生|图文|品牌|视频){_MADE}")


# A name that ends in showing or telling is who said it, not what it is about: "后台显示的曝光量", "你们给的周报".
_SAID_BY = re.compile(r"(?:显示|看到|统计|查到|提供|反馈|报给|发给)$")


def _topic_name(name: str) -> str | None:
    if len(name) < 2 or len(name) > 12 or _NOT_A_TOPIC.fullmatch(name) or _AD_FORMAT.fullmatch(name):
        return None
    if _QUANTITY.match(name):
        # "五千张传单" counts what was made; the name, if any, follows the count.
        return None
    if _SAID_BY.search(name):
        return None
    return name


def _cjk_topic(clause: str) -> tuple[int, int] | None:
    """In one clause: "周年庆的预算…" (a name before 的 and what it has) or "开业海报印的…" (ending in what was made).

    The name starts at the clause's start or right after a word that says who or which ("我们那个…"): the first
    such start that gives a name wins.
    """
    for lead_end in (0, *(lead.end() for lead in _TOPIC_LEAD.finditer(clause))):
        rest = clause[lead_end:]
        made = _LEADS_MADE.match(rest)
        if made and not _NOT_IN_NAME.search(rest, 0, made.end() - 2) and _topic_name(made[0].rstrip()):
            prefix = re.sub(rf"{_MADE}+$", "", made[0])
            if len(prefix) >= 2:
                return lead_end, lead_end + made.end()
        of = _TOPIC_OF.search(rest)
        if of is not None:
            name = rest[: of.start()].rstrip("上里中内 ")
            if not _NOT_IN_NAME.search(name) and _topic_name(name):
                return lead_end, lead_end + len(name)
    return None


def _project_guess(folded: Folded, masked: str, dates: list[Span]) -> str | None:
    if masked.isascii():
        for pronoun in ("our", "my", "the"):
            for m in _EN_TOPIC.finditer(masked):
                words = m[2].split()
                if m[1] == pronoun and not set(words[:-1]) <= _EN_NOT_A_NAME:
                    return folded.words(m.start(2), m.end(2))
        for m in _EN_TITLED.finditer(folded.shown):
            words = m[1].split()
            while words and words[0].lower() in _EN_NOT_A_NAME:
                words.pop(0)
            if len(words) >= 2:
                return " ".join(words)
        return None
    start = 0
    for brk in [*_CLAUSE_BREAK.finditer(masked), None]:
        end = brk.start() if brk is not None else len(masked)
        span = _cjk_topic(masked[start:end]) if end - start >= 3 else None
        # "周末特卖" is a name with a time word in it; "昨天的数据" is only a time.
        if span is not None and not any(a <= start + span[0] and start + span[1] <= b for a, b in dates):
            return _clean_name(folded.words(start + span[0], start + span[1]))
        if brk is not None:
            start = brk.end()
    return None


# --- the demand ------------------------------------------------------------------------------------------------

# A full stop ends a clause only before a space or the end: "1.2万" and "a.b@c.com" stay whole.
_CLAUSE = re.compile(rf"(?:[^，。！？!?；;,.\n{MASK}~…]|\.(?!\s|$))+")
_WANT = re.compile(
    r"要求|希望|期望|请|需要|必须|麻烦|赶紧|尽快|马上|立刻|能不能|能否|可不可以|可以吗|给我(?!们)|给个|想要|要|"
    r"(?<![a-z])(?:want|need|expect|demand|please|request|would like|asking for|ask for)(?![a-z])"
)
_OUTCOME = re.compile(
    r"退款|退钱|退费|退回|补量|补偿|赔偿|赔|补|恢复|重新投放|重新上线|上线|下线|撤下|撤掉|停掉|暂停|处理|解决|说法|解释|"
    r"发票|返点|核实|查一下|查查|回电|联系我|回复|答复|停(?![了过])|道歉|说明|交代|"
    # The work done again or put right: most of what an agency's client asks for ("希望今天重新印").
    r"重新(?!开始)|重做|重印|重拍|重剪|重发|修改|改正|更正|改一下|改过来|改好|弄好|修好|修一下|修复|搞定|换一版|换掉|撤回|删掉|删除|"
    r"(?<![a-z])(?:refund|money back|compensat|make good|credit|fix|resume|restore|take down|stop|pause|invoice|"
    r"call me back|apolog|"
    r"redo|reprint|re-?shoot|re-?edit|replace|correct(?!ly)|remove)"
)
# Wanting to complain, to ask, or to talk to someone is an act in the dialogue, not an outcome.
_NOT_A_DEMAND = re.compile(
    r"要投诉|想投诉|要咨询|想咨询|要找|想找|找个|跟你们|和你们|要问|想问|要跟|要和|你们说|他们说|答应|承诺|说好|"
    r"(?<![a-z])(?:want|need|would like|'d like) to (?:complain|ask|talk|speak|report|know|make a complaint)(?![a-z])"
)
# Longer than this, a clause holds more than the demand (voice-style messages come without punctuation).
_LONG_CLAUSE = 24
_LONG_CLAUSE_LATIN = 60
# "是要退款" after "不是重新印，": the copula that sets the outcome against another is no part of it.
_DEMAND_LEAD = re.compile(
    r"\s*(?:(?:我们|我方|我)的?|所以|那就|那|就|现在|因此|总之|反正|是(?=要|希望|想)|(?:and|so|we|i)(?![a-z]))\s*"
)


# What a document or a rule asks is a term of the work, not what the client wants of the agency: "合同要求月底之前
# 付款", "按规定要…". Only a wish said after it, with an outcome or a day of its own, is his.
_RULE_BEFORE_WANT = re.compile(
    r"(?:合同|协议|条款|规定|制度|流程|政策|规则|规范|章程|平台|按照|按)(?:里|上|中|的|上面|里面)?(?:也|都|明确|写明)?\s*$|"
    r"(?<![a-z])(?:contract|agreement|policy|terms|rules?|sow)(?![a-z])[^.;]*?(?:says?|states?|requires?|specifies)"
    r"(?: that)?(?: you| we)?\s*$"
)
# Between a deadline and the wish it leads ("明天之前必须给我答复", "周五前你们要改好"): nothing, or who is asked.
_DEADLINE_TO_WANT = re.compile(r"\s*(?:你们|你|您)?\s*")


def _client_want(clause: str) -> tuple[re.Match[str] | None, int]:
    """The client's first word of wanting in the clause, and where what he asks may begin: after a rule's words of
    wanting ("合同要求…"), if any."""
    after_rule = 0
    for want in _WANT.finditer(clause):
        if _RULE_BEFORE_WANT.search(clause, 0, want.start()):
            after_rule = want.end()
            continue
        return want, after_rule
    return None, after_rule


def _demand(folded: Folded, masked: str, deadlines: tuple[Found, ...] = ()) -> str | None:
    """Every clause that asks for an outcome, in the client's words ("马上停，多扣的全部退款"), or for something by a
    day ("今天之内必须给我": the `deadlines` are the dates said as one)."""
    demands: list[str] = []
    for m in _CLAUSE.finditer(masked):
        want, asked_from = _client_want(m[0])
        clause = m[0][asked_from:]
        # "多扣的全部退款！！！": an outcome that ends an exclaimed clause is an order, with no "要" needed.
        ordered = masked.startswith(("!", "！"), m.end()) and re.search(f"(?:{_OUTCOME.pattern})$", clause)
        # The day a rule names ("合同要求月底之前付款") is its term: after one, a wish needs an outcome of its own.
        by_day = want is not None and not asked_from and any(m.start() <= d.start < m.end() for d in deadlines)
        if not (want or ordered) or not (_OUTCOME.search(clause) or by_day) or _NOT_A_DEMAND.search(clause):
            continue
        start, end = m.start() + asked_from, m.end()
        if want and (asked_from or end - start > _LONG_CLAUSE):
            # A message said in one breath, without a comma ("…线索一个都没有我们要求全额退款"), or a rule's terms
            # before the wish: the demand is what follows its word, not the whole account, with the day it is wanted
            # by when that leads into it ("…提交不了 明天之前必须给我答复").
            start = _deadline_leading(masked, m.start() + want.start(), deadlines, start)
        while lead := _DEMAND_LEAD.match(masked, start, end):
            if lead.end() == start:
                break
            start = lead.end()
        if words := folded.words(start, end):
            demands.append(words)
    return "，".join(demands) or None


# Outcomes that are things done, said as an order with no "要" before them: "重新印刷并承担费用", "全额退款".
_ORDER = re.compile(
    r"(?:全额|全部|马上|立刻|尽快)?(?:重新|重做|重印|重拍|重剪|重发|重开|补开|修改|改正|更正|退款|退钱|退费|赔偿|补偿|补量|撤下|撤掉|"
    r"停掉|暂停|删掉|删除|换掉|换一版|恢复|(?:refund|compensate|redo|reprint|re-?shoot|replace|fix|remove|take down|"
    r"stop|pause)(?![a-z]))"
)


# Whether a day is said as a deadline does not depend on the day it is counted from: any day will do.
_ANY_DAY = date(2026, 1, 1)


def sole_demand(text: str) -> bool:
    """Whether the text says only what the client wants done ("重新印刷并承担费用", "要求全额退款", "reprint it"), or
    by when ("今天之内必须给我", "明天之前给我方案")."""
    masked = fold(text).folded.strip(" 。.!！~…")
    rest = masked[_past_leads(masked, 0) :]
    # Longer, it says more than the demand; English takes more letters to say as much.
    if not rest or len(rest) > (_LONG_CLAUSE_LATIN if rest.isascii() else _LONG_CLAUSE) or _NOT_A_DEMAND.search(rest):
        return False
    deadlines = [d for d in find_dates(rest, _ANY_DAY) if _deadline(rest, d)]
    # "今天之内必须给我": the deadline said first, the wanting after it.
    leading = next((by.end() for d in deadlines if d.start == 0 and (by := _BY_AFTER.match(rest, d.end))), None)
    if leading is None and (within := _WITHIN.match(rest)):
        # "三天内给我答复": a time it is wanted within, said first.
        leading = within.end()
    if leading is not None:
        rest = rest[_past_leads(rest, leading) :]
    if _ORDER.match(rest) is not None:
        return True
    return _WANT.match(rest) is not None and (_OUTCOME.search(rest) is not None or bool(deadlines) or bool(leading))


def _deadline_leading(masked: str, want: int, deadlines: tuple[Found, ...], earliest: int) -> int:
    """Where a demand whose word of wanting is at `want` begins: at a deadline said right before that word, if any."""
    for day in deadlines:
        by = _BY_AFTER.match(masked, day.end)
        if earliest <= day.start and by and (gap := _DEADLINE_TO_WANT.match(masked, by.end())) and gap.end() == want:
            return day.start
    return want


def _past_leads(text: str, start: int) -> int:
    """Where the words that lead into a demand ("我们", "那就", "so") end, from `start`."""
    while (lead := _DEMAND_LEAD.match(text, start)) and lead.end() > start:
        start = lead.end()
    return start


# A day said as a deadline: "周五之前", "周五前", "月底为止", "今天之内"; "by Monday", "before Saturday".
_BY_AFTER = re.compile(
    # a time of that day may stand between: "周五下班前", "明天中午之前", "周三下午3点前"
    rf"\s*(?:(?:早上|上午|中午|下午|傍晚|晚上|下班|上班|[\d{CN_DIGITS}两]+\s*点半?)\s*){{0,2}}"
    r"(?:之前|以前|前(?![天年晚])|为止|之内|以内|内(?![容部]))"
)
# A time something is wanted within: "三天内", "24小时之内", "一周以内", "within two days".
_WITHIN = re.compile(
    rf"(?:[\d{CN_DIGITS}两半]+\s*个?\s*(?:小时|天|日|工作日|周|星期|礼拜|月)\s*(?:之内|以内|内)|"
    r"within\s+(?:\d+|a|an|one|two|three|a few)\s+(?:hours?|days?|weeks?|working days?))\s*"
)
_BY_BEFORE = re.compile(r"(?<![a-z])(?:by|before|until|no later than|最晚|最迟)(?:\s+the)?\s*$")
_CLAUSE_END = re.compile(r"[，。！？!?；;,\n]")


def _deadline(folded: str, found: Found) -> bool:
    """Whether the date is the day something is wanted by: a deadline word with it, and a demand in its clause."""
    if not (_BY_AFTER.match(folded, found.end) or _BY_BEFORE.search(folded, 0, found.start)):
        return False
    start = max((m.end() for m in _CLAUSE_END.finditer(folded, 0, found.start)), default=0)
    end = m.start() if (m := _CLAUSE_END.search(folded, found.end)) else len(folded)
    clause = folded[start:end]
    return _WANT.search(clause) is not None or _OUTCOME.search(clause) is not None


# --- everything ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Marked:
    """The entities that mask one another, each kind with the spans it took."""

    tickets: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    dates: tuple[Found, ...]
    taken: tuple[Span, ...]
    handles: tuple[str, ...]


# Both `extract` and `sole_entity` read a message, often in the same turn: the phone matcher and the dates once.
@lru_cache(maxsize=256)
def _marked(folded: Folded, today: date) -> _Marked:
    tickets, taken = _tickets(folded.folded)
    emails = [m[0] for m in _EMAIL.finditer(folded.folded)]
    taken += [m.span() for m in _EMAIL.finditer(folded.folded)]
    phones, spans = _phones(folded.masked(taken))
    taken += spans
    # A QQ number is no date, nor an ID a project: each is read once the one before is masked.
    handles, at = _handles(folded, folded.masked(taken))
    taken += at
    dates = find_dates(folded.masked(taken), today)
    return _Marked(tuple(tickets), tuple(emails), tuple(phones), dates, tuple(taken), tuple(handles))


def extract(text: str, today: date) -> Entities:
    """Every detail in one message; `today` is the business day that relative dates count from."""
    folded = fold(text)
    marked = _marked(folded, today)
    dates = tuple(
        DateMention(folded.words(d.start, d.end), d.day, d.approximate, _deadline(folded.folded, d))
        for d in marked.dates
    )
    date_spans = [(d.start, d.end) for d in marked.dates]
    # A project name or a demand may hold a date or a number ("12.12年终盛典", "今天恢复"): both are read before
    # those are masked.
    named = folded.masked(marked.taken)
    amounts, _ = _amounts(folded, folded.masked([*marked.taken, *date_spans]))
    return Entities(
        phones=tuple(dict.fromkeys(marked.phones)),
        emails=tuple(dict.fromkeys(marked.emails)),
        dates=dates,
        amounts=tuple(amounts),
        project=_project(folded, named),
        ticket_numbers=tuple(dict.fromkeys(marked.tickets)),
        demand=_demand(folded, named, tuple(d for d, m in zip(marked.dates, dates, strict=True) if m.deadline)),
        project_guess=_project_guess(folded, named, date_spans),
        handles=tuple(dict.fromkeys(marked.handles)),
    )


# Words that go with a date, a phone number or an e-mail address and add nothing to it ("上周三开始的",
# "电话是 138…", "since last Monday").
_ALONGSIDE = re.compile(
    r"自从|从|自|大概|大约|差不多|估计|应该是|就是|是|在|于|开始|起|以来|那天|当天|的时候|时候|的|了|吧|啊|呀|哦|呢|嘛|哈|"
    # when the problem was seen rather than when it began: "上周三发现的", "昨天才注意到", "前天出的问题"
    r"发现|注意到|看到|出现|出的问题|出问题|出的事|才|就|这样|"
    # the phone the client left when he filed: "当时留的是 138…"
    r"当时|预留的|留的|留了|登记的|"
    r"我的|我|电话号码|手机号码|手机号|联系电话|联系方式|电话|手机|号码|邮箱地址|邮箱|邮件|"
    r"(?<![a-z])(?:since|from|on|it's|it|was|is|started|starting|began|my|number|phone|mobile|tel|email|e-mail|mail)"
    r"(?![a-z])"
)
_PUNCTUATION = re.compile(rf"[\W_{MASK}]+")


def sole_entity(text: str, today: date) -> str | None:
    """The kind ("phone", "email", "date") when that is all the text says ("上周三开始的", "电话 138 1234 5678")."""
    folded = fold(text)
    marked = _marked(folded, today)
    kinds = [
        kind for kind, found in (("phone", marked.phones), ("email", marked.emails), ("date", marked.dates)) if found
    ]
    if len(kinds) != 1 or marked.tickets:
        return None
    rest = folded.masked([*marked.taken, *((d.start, d.end) for d in marked.dates)])
    return kinds[0] if not _PUNCTUATION.sub("", _ALONGSIDE.sub(" ", rest)) else None


def preload() -> None:
    """Load the libraries and tables a first message would otherwise wait for (about a second): call at start-up."""
    extract("上週三 13800138000 三万五 “x项目” 要退款", date(2026, 1, 1))
