"""Entities as agency clients write them: phones, e-mail, dates, amounts, project, ticket numbers, demand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.dialogue.entities import (
    Amount,
    DateMention,
    extract,
    find_phones,
    find_ticket_numbers,
    sole_entity,
    sole_project,
)

# A Sunday: this week runs from Monday 23 November, last week from Monday 16 November.
TODAY = date(2026, 11, 29)
# A Wednesday, for weekdays that lie ahead of today within the week.
WEDNESDAY = date(2026, 11, 25)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


PHONES = [
    # the issue's phrases
    ("13912345678 上面也有", ("13912345678",)),
    ("王女士 13811113333", ("13811113333",)),
    ("+86 138 0013 8000", ("13800138000",)),
    ("138-0013-8000", ("13800138000",)),
    ("010-12345678", ("01012345678",)),
    ("(021)6123 4567", ("02161234567",)),
    ("电话：0755 8888 9999", ("075588889999",)),
    ("１３８００１３８０００", ("13800138000",)),
    # as clients write them
    ("手机13800138000谢谢", ("13800138000",)),
    ("我电话是138 0013 8000，白天都在", ("13800138000",)),
    ("0086 13800138000", ("13800138000",)),
    ("86-13800138000", ("13800138000",)),
    ("（０２１）６１２３－４５６７", ("02161234567",)),
    # a landline's extension is part of reaching the client
    ("座机 021-61234567转8001", ("02161234567转8001",)),
    ("010-62345678-801", ("01062345678转801",)),
    ("电话 0755-86001234 ext. 12，或者13800138000", ("075586001234转12", "13800138000")),
    ("分机号 (021)54321098 分机 23", ("02154321098转23",)),
    ("有事打 400-820-8820", ("4008208820",)),
    ("香港同事 +852 9123 4567 也可以", ("+85291234567",)),
    ("call me at +1 415 555 2671 pls", ("+14155552671",)),
    ("打我手机📱13800138000📱", ("13800138000",)),
    ("13800138000 或者 13911112222 都行", ("13800138000", "13911112222")),
    ("电话13800138000，再说一遍13800138000", ("13800138000",)),
    ("電話：13922223334", ("13922223334",)),
    # not phones
    ("订单号 2026112012345", ()),
    ("订单号 13800138000 的那单", ()),
    ("订单号 010-62345678-801", ()),
    ("QQ 123456789", ()),
    ("预算 35000 元", ()),
    ("20261129开始的", ()),
    ("金额 12345678", ()),
    ("KF-20261129-0001 进度", ()),
    ("2026-11-20 开始", ()),
    ("挺满意的，5分", ()),
    ("138001380", ()),
]


@pytest.mark.parametrize(("text", "expected"), PHONES)
def test_phones(text: str, expected: tuple[str, ...]) -> None:
    assert find_phones(text) == expected
    assert extract(text, TODAY).phones == expected


DATES = [
    # a day of the month alone: the latest such day
    ("活动3号就结束了", [("3号", d(11, 3), False)]),
    ("十五号开始没量", [("十五号", d(11, 15), False)]),
    ("30号上线的", [("30号", d(10, 30), False)]),
    ("3号线的灯箱", []),
    ("1号店的海报", []),
    ("3日内给答复", []),
    ("每月15号结算", []),
    # the issue's phrases
    ("上周三", [("上周三", d(11, 18), False)]),
    ("这周一", [("这周一", d(11, 23), False)]),
    # 星期 with no other word of time
    ("上星期五开始的", [("上星期五", d(11, 20), False)]),
    # after a count, 周 is a week and the word after it no weekday
    ("广告投了一周一个转化都没有", []),
    ("一周二十个线索", []),
    ("10月底", [("10月底", d(10, 31), True)]),
    ("11月20号左右", [("11月20号左右", d(11, 20), True)]),
    ("11.20", [("11.20", d(11, 20), False)]),
    ("昨天下午", [("昨天下午", d(11, 28), False)]),
    ("前天", [("前天", d(11, 27), False)]),
    ("大前天", [("大前天", d(11, 26), False)]),
    ("3天前", [("3天前", d(11, 26), False)]),
    ("上个月", [("上个月", d(10, 1), True)]),
    ("月初", [("月初", d(11, 1), True)]),
    ("2026-11-20", [("2026-11-20", d(11, 20), False)]),
    ("11/20", [("11/20", d(11, 20), False)]),
    ("yesterday", [("yesterday", d(11, 28), False)]),
    ("last Friday", [("last Friday", d(11, 27), False)]),
    ("Nov 20", [("Nov 20", d(11, 20), False)]),
    # in sentences, as clients write them
    ("冬季大促-信息流那个项目10月底开始跑的", [("10月底", d(10, 31), True)]),
    ("上週三開始就沒量了", [("上週三", d(11, 18), False)]),
    ("从11月3号开始效果就不行了", [("11月3号", d(11, 3), False)]),
    ("十一月二十号那天突然停了", [("十一月二十号", d(11, 20), False)]),
    ("2026年11月20日上线的", [("2026年11月20日", d(11, 20), False)]),
    ("2026.11.20 上线", [("2026.11.20", d(11, 20), False)]),
    ("20261120开始投的", [("20261120", d(11, 20), False)]),
    ("昨天下午3点左右突然没量了", [("昨天下午3点左右", d(11, 28), True)]),
    ("今早开始就没消耗", [("今早", d(11, 29), False)]),
    ("大概上周五左右开始掉量的", [("上周五左右", d(11, 20), True)]),
    ("这周一到现在都没消耗😡😡😡", [("这周一", d(11, 23), False)]),
    ("上上周二", [("上上周二", d(11, 10), False)]),
    ("上礼拜五开始的", [("上礼拜五", d(11, 20), False)]),
    ("星期天晚上", [("星期天", d(11, 29), False)]),
    ("上周末", [("上周末", d(11, 21), True)]),
    ("上周就开始了", [("上周", d(11, 16), True)]),
    ("一周前", [("一周前", d(11, 22), False)]),
    ("两周前", [("两周前", d(11, 15), False)]),
    ("半个月前", [("半个月前", d(11, 14), True)]),
    ("一个多月前", [("一个多月前", d(10, 29), True)]),
    ("几天前", [("几天前", d(11, 26), True)]),
    ("前几天还好好的", [("前几天", d(11, 26), True)]),
    ("上个月底投的开屏", [("上个月底", d(10, 31), True)]),
    ("上月中旬", [("上月中旬", d(10, 15), True)]),
    ("本月初", [("本月初", d(11, 1), True)]),
    ("10月下旬", [("10月下旬", d(10, 21), True)]),
    ("10月份", [("10月份", d(10, 1), True)]),
    ("马上月底了还没结算", [("月底", d(11, 30), True)]),
    ("去年底签的合同", [("去年底", d(12, 31, 2025), True)]),
    ("12月5号前要上线", [("12月5号", d(12, 5), False)]),
    ("3月15号", [("3月15号", d(3, 15), False)]),
    ("11.5号开始的", [("11.5号", d(11, 5), False)]),
    ("20/11", [("20/11", d(11, 20), False)]),
    ("since last Tuesday", [("last Tuesday", d(11, 24), False)]),
    ("it started 3 days ago", [("3 days ago", d(11, 26), False)]),
    ("a couple of weeks ago", [("a couple of weeks ago", d(11, 15), True)]),
    ("since Nov 3rd, 2025", [("Nov 3rd, 2025", d(11, 3, 2025), False)]),
    ("on 20 November", [("20 November", d(11, 20), False)]),
    ("early November", [("early November", d(11, 1), True)]),
    ("end of October", [("end of October", d(10, 31), True)]),
    ("ads stopped since November", [("November", d(11, 1), True)]),
    ("从yesterday开始没量", [("yesterday", d(11, 28), False)]),
    ("last week", [("last week", d(11, 16), True)]),
    # 大上周 is the week before last, in Chinese and in English; English ways to say when
    ("大上周三开始的", [("大上周三", d(11, 11), False)]),
    ("大上周", [("大上周", d(11, 9), True)]),
    ("week before last", [("week before last", d(11, 9), True)]),
    ("since the 20th", [("the 20th", d(11, 20), False)]),
    ("it broke on the 30th", [("the 30th", d(10, 30), False)]),
    ("two weeks back", [("two weeks back", d(11, 15), False)]),
    ("last weekend", [("last weekend", d(11, 21), True)]),
    ("over the weekend", [("over the weekend", d(11, 28), True)]),
    ("since Tues", [("Tues", d(11, 24), False)]),
    ("the 1st campaign", []),
    # festivals on a fixed day, where they stand for a day rather than name a campaign
    ("元旦当天", [("元旦", d(1, 1), False)]),
    ("从国庆开始就没量了", [("国庆", d(10, 1), False)]),
    ("双十一前后点击掉了一半", [("双十一前后", d(11, 11), True)]),
    ("元旦推文你们漏发了", []),
    ("双十一大促的素材被拒了", []),
    ("圣诞海报", []),
    # not dates
    ("挺满意的，5分", []),
    ("1.2万的预算", []),
    ("CPM 3.5", []),
    ("每周一次的周报也没发", []),
    ("每周一开例会", []),
    # how long it has lasted: it began about then
    ("三天了还没人处理", [("三天了", d(11, 26), True)]),
    ("已经两周没收到周报了", [("两周", d(11, 15), True)]),
    ("补量3天", []),
    ("第3天了", []),
    ("订单号 2026112012345", []),
    ("这个月没什么量", [("这个月", d(11, 1), True)]),
    ("Black Friday campaign", []),
    ("we sat down with your team", []),
    ("I may need help", []),
    ("11.20元一个点击", []),
    # the close of a day only as a deadline
    ("we stopped seeing leads at end of day yesterday", [("yesterday", d(11, 28), False)]),
    ("明早之前给我回复", [("明早", d(11, 30), False)]),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates(text: str, expected: list[tuple[str, date, bool]]) -> None:
    found = extract(text, TODAY).dates
    assert tuple((d.text, d.day, d.approximate) for d in found) == tuple(
        (m.text, m.day, m.approximate) for m in (DateMention(*e) for e in expected)
    )


@pytest.mark.parametrize(
    ("text", "deadline"),
    [
        ("12月5号前要上线", True),
        ("周五之前必须改好", True),
        ("please fix it by Monday", True),
        ("上周五之前都正常，之后就没量了", False),
        ("from Monday the ads stopped", False),
        ("周五之前的数据", False),
        # "tomorrow" alone, with no other word of time in the message
        ("I need it by tomorrow", True),
        ("we need the final version by tomorrow", True),
        ("I need this sorted by end of day", True),
        ("please fix it by the end of the day", True),
        # a time of the day between, or the latest day said first
        ("周五下班前必须改好", True),
        ("周三下午3点前必须上线", True),
        ("最晚周五要看到新版", True),
    ],
)
def test_a_day_said_as_a_deadline(text: str, deadline: bool) -> None:
    assert [d.deadline for d in extract(text, TODAY).dates] == [deadline]


WEEKDAYS_FROM_WEDNESDAY = [
    ("周五开始的", d(11, 20)),  # a bare weekday is the latest one not after today
    ("周三", d(11, 25)),
    ("周一", d(11, 23)),
    ("这周五", d(11, 27)),
    ("下周一", d(11, 30)),
    ("last Friday", d(11, 20)),
    ("this Friday", d(11, 27)),
    ("next Monday", d(11, 30)),
    ("on Monday", d(11, 23)),
]


@pytest.mark.parametrize(("text", "day"), WEEKDAYS_FROM_WEDNESDAY)
def test_weekdays_count_from_today(text: str, day: date) -> None:
    assert [m.day for m in extract(text, WEDNESDAY).dates] == [day]


def test_a_month_ahead_is_last_year_in_january() -> None:
    assert [m.day for m in extract("12月20号开始的", date(2027, 1, 5)).dates] == [d(12, 20)]
    assert [m.day for m in extract("上个月", date(2027, 1, 5)).dates] == [d(12, 1)]
    assert [m.day for m in extract("2月30号", TODAY).dates] == []


AMOUNTS = [
    # the issue's phrases
    ("三万五", [("三万五", "35000", None)]),
    ("5千", [("5千", "5000", None)]),
    ("两万块", [("两万块", "20000", "CNY")]),
    ("1.2万元", [("1.2万元", "12000", "CNY")]),
    ("¥3000", [("¥3000", "3000", "CNY")]),
    ("3000元", [("3000元", "3000", "CNY")]),
    ("$500", [("$500", "500", "USD")]),
    ("5k", [("5k", "5000", None)]),
    # in sentences
    ("预算三万五，已经花了两万块", [("三万五", "35000", None), ("两万块", "20000", "CNY")]),
    ("账户里的钱被多扣了3,000元，要求退回", [("3,000元", "3000", "CNY")]),
    ("投了五千块钱，一个线索都没有", [("五千块钱", "5000", "CNY")]),
    ("我们花了1万2，结果就来了3个线索", [("1万2", "12000", None)]),
    ("充了￥５０００", [("¥5000", "5000", "CNY")]),
    ("人民币 8000", [("人民币 8000", "8000", "CNY")]),
    ("一百二十元", [("一百二十元", "120", "CNY")]),
    ("退我10w", [("10w", "100000", None)]),
    ("500美元", [("500美元", "500", "USD")]),
    ("spent 2000 USD already", [("2000 USD", "2000", "USD")]),
    ("budget was 5k and it's all gone", [("5k", "5000", None)]),
    ("三万多的预算", [("三万多", "30000", None)]),
    ("19.9元", [("19.9元", "19.9", "CNY")]),
    ("兩萬塊", [("兩萬塊", "20000", "CNY")]),
    # not amounts
    ("电话13800138000", []),
    ("订单号 2026112012345", []),
    ("11月20号开始", []),
    ("挺满意的，5分", []),
    ("千万别停", []),
    ("万一又停了怎么办", []),
    ("双十一开屏", []),
    ("曝光掉了5万", []),
    ("补量5万", []),
    ("一下午都没量", []),
    ("5千个点击", []),
    ("KF-20261129-0001", []),
    ("一块儿处理吧", []),
]


@pytest.mark.parametrize(("text", "expected"), AMOUNTS)
def test_amounts(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert extract(text, TODAY).amounts == tuple(Amount(t, Decimal(v), c) for t, v, c in expected)


PROJECTS = [
    ("冬季大促-信息流那个项目10月底开始跑的", "冬季大促-信息流"),
    ("项目名：双十一开屏", "双十一开屏"),
    ("项目名改成双十一开屏", "双十一开屏"),
    ("项目叫冬季大促，从10月底开始", "冬季大促"),
    # said in one breath, the name ends before another detail's word
    ("广告突然停了项目是双十二大促电话是13812345678", "双十二大促"),
    ("项目叫春季新品手机号13812345678", "春季新品"),
    ("项目是电话会议系统推广", "电话会议系统推广"),
    ("活动叫「年货节」，希望退款", "年货节"),
    ("我们在抖音投的《双11种草》项目效果很差", "双11种草"),
    ("你好，我们公司的“618品牌日”活动，上个月底投的开屏", "618品牌日"),
    ("上個月底開始投的那個「春節紅包」項目 數據不對", "春節紅包"),
    ("請儘快恢復投放，冬季大促項目上週三開始就沒量了", "冬季大促"),
    ("『新品首发』的素材审核没过", "新品首发"),
    ("我们的双十一开屏活动没上", "双十一开屏"),
    ("10月底开始跑的冬季大促项目", "冬季大促"),
    ("campaign name: Black Friday Push", "Black Friday Push"),
    ("the project is called Spring Launch, it stopped", "Spring Launch"),
    # an e-mail that names the project in a sentence of its own, after mentioning a kind of campaign
    ("The KOL campaign posted the wrong link. Project: Winter Glow KOL. It started on Nov 20.", "Winter Glow KOL"),
    ("project: Launch v2.0", "Launch v2.0"),
    ("the Winter Sale campaign stopped yesterday", "Winter Sale"),
    ("our Q4 brand campaign has zero impressions", "Q4 brand"),
    ("《12.12年终盛典》从12月1号开始", "12.12年终盛典"),
    # named after its season or shopping festival
    ("暑期档排期被你们擅自改了", "暑期档"),
    ("还有个事要投诉 元宵节的广告用错了图片", "元宵节"),
    ("双十一大促的素材被拒了", "双十一大促"),
    ("618预热用的素材被换成了旧版的", "618预热"),
    ("双十一返场的链接又挂了", "双十一返场"),
    # no project named
    ("活动效果很差", None),
    ("我们的项目投放停了", None),
    ("这个项目到底有没有人管", None),
    ("我要跟你们经理说，别让我一遍遍填了", None),
    ("投放停了！！！", None),
    ("今天的广告没上线", None),
    ("你们说“马上处理”，结果到现在都没人理", None),
    # a count of campaigns names none
    ("我们有三个活动都没上线", None),
]


@pytest.mark.parametrize(("text", "expected"), PROJECTS)
def test_project(text: str, expected: str | None) -> None:
    assert extract(text, TODAY).project == expected


# The project a message is about without naming it as one: a guess, kept apart from a named project.
PROJECT_GUESSES = [
    ("周年庆的预算上限是10万 你们投了13万 谁批准的？", "周年庆"),
    ("夜宵外賣的廣告怎麼在早上投？", "夜宵外賣"),
    ("你们把周末特卖的广告投到了未成年人", "周末特卖"),
    ("我跟你说啊就是我们那个春季招商的投放啊上周开始效果就一直不好", "春季招商"),
    ("地推传单上的二维码扫不出来", "地推传单"),
    ("开业海报印的颜色偏差太大", "开业海报"),
    ("礼盒包装设计跟我们说的完全两回事", "礼盒包装设计"),
    ("户外大牌上刊延误了一周", "户外大牌"),
    ("The subtitles in our brand film are full of mistakes", "brand film"),
    ("The expo banner was printed with the wrong date", "expo banner"),
    # a name in title case before what was made, with nothing to lead it
    ("Winter Sale ads are showing the old prices", "Winter Sale"),
    ("Mid Autumn Gala poster has a typo", "Mid Autumn Gala"),
    # what was made, named after the agency made it
    ("你们做的开业海报电话印错了", "开业海报"),
    # who showed or gave it is no name
    ("后台显示的曝光量和你们给的周报对不上", None),
    # a count of what was made is no name; the name, if any, follows it; an ordinal is part of one
    ("印了五千张传单全废了", None),
    ("5000张传单印错了", None),
    ("做了两版海报都不行", None),
    ("印了五千张新品传单全废了", "新品传单"),
    ("第三期海报有错字", "第三期海报"),
    ("两个项目的数据都不对", None),
    ("WINTER SALE ADS ARE BROKEN", "WINTER SALE"),
    # what was promised is no project
    ("投诉你们的销售，承诺的曝光量只完成了一半", None),
    ("合同的点位少了三个", None),
    # no project: a time, a platform, the agency, a bare kind of work, an action
    ("昨天的数据不对", None),
    ("抖音的广告被拒了", None),
    ("你们做的广告效果太差了", None),
    ("我们这边的投放停了", None),
    ("广告投错了", None),
    ("信息流广告的点击量突然掉了", None),
    ("开屏广告一直没上", None),
    ("我想咨询一下广告怎么收费", None),
    ("你们的服务太差了", None),
    ("the ads stopped yesterday", None),
    ("our new banner is wrong", None),
    # one capitalised word is only the start of a sentence
    ("Banner ads are not showing", None),
    ("Facebook ads stopped yesterday", None),
]


@pytest.mark.parametrize(("text", "expected"), PROJECT_GUESSES)
def test_project_guess(text: str, expected: str | None) -> None:
    found = extract(text, TODAY)
    assert found.project is None
    assert found.project_guess == expected


DEMANDS = [
    # the copula that sets the outcome against another is no part of it
    ("不是重新印，是要退款", "要退款"),
    ("冬季大促-信息流10月底开始跑的，到现在一直没量，要补量或退款", "要补量或退款"),
    ("希望退款", "希望退款"),
    ("请尽快恢复投放", "请尽快恢复投放"),
    ("要求赔偿", "要求赔偿"),
    ("我们要补量或退款", "要补量或退款"),
    # "我们的…": the possessive goes with the pronoun
    ("我们的发票抬头错了要重开", "发票抬头错了要重开"),
    # an outcome that ends an exclaimed clause is an order; every clause that asks is kept
    ("多扣的全部退款！！！", "多扣的全部退款"),
    ("3号就结束了还在扣费！！！马上停！！！多扣的全部退款！！！", "马上停，多扣的全部退款"),
    ("上次退款还没到！", None),
    ("投放停了！！！", None),
    ("账户里的钱被多扣了3,000元，要求退回", "要求退回"),
    ("到现在都没给我们排期表，麻烦尽快给个说法", "麻烦尽快给个说法"),
    ("請儘快恢復投放，冬季大促項目上週三開始就沒量了", "請儘快恢復投放"),
    ("素材被拒了三次了!!! 赶紧处理一下", "赶紧处理一下"),
    ("发票能不能先开一下", "发票能不能先开一下"),
    ("we need a make good or a refund asap", "need a make good or a refund asap"),
    ("Please resume the ads today.", "Please resume the ads today"),
    # said in one breath: the demand is what follows its word, not the whole account
    ("上周你们给我们做的抖音信息流预算三天就花完了线索一个都没有我们要求全额退款", "要求全额退款"),
    # the work done again or put right
    ("你们做的海报把价格印错了，希望今天重新印，电话13800001111", "希望今天重新印"),
    ("logo放反了，麻烦换一版", "麻烦换一版"),
    ("朋友圈广告的落地页今天打不开了 客户都在问 尽快修一下", "尽快修一下"),
    ("please reprint the flyers", "please reprint the flyers"),
    # by a day, said after the account in one breath: the day goes with the wish
    ("落地页的表单从昨天开始提交不了 明天之前必须给我答复", "明天之前必须给我答复"),
    ("I need it by tomorrow", "need it by tomorrow"),
    # a rule's terms are no demand; a wish said after them is
    ("合同要求月底之前付款 我们上周就付了 你们赶紧给个说法", "赶紧给个说法"),
    ("合同要求月底之前付款", None),
    ("按合同要求月底前要付尾款", None),
    ("the contract says you need to deliver before the 20th", None),
    # an apology, an account of what happened, the money back
    ("要求公开道歉", "要求公开道歉"),
    ("我要求你们给个书面说明", "要求你们给个书面说明"),
    ("we want our money back", "want our money back"),
    ("I need this sorted by end of day", "need this sorted by end of day"),
    ("最晚周五要看到新版", "最晚周五要看到新版"),
    ("合同要求月底之前付款 我们上周就付了 你们财务还说没收到 一直在催", None),
    # no demand stated
    ("希望重新开始合作", None),
    ("我们正在修改方案", None),
    ("上周你们给我们做的抖音信息流预算三天就花完了线索一个都没有你们看怎么处理吧", None),
    ("我要投诉你们的投放", None),
    ("我要跟你们经理说，别让我一遍遍填了", None),
    ("投放停了", None),
    ("你是机器人还是真人啊？", None),
    ("谢谢", None),
]


@pytest.mark.parametrize(("text", "expected"), DEMANDS)
def test_demand(text: str, expected: str | None) -> None:
    assert extract(text, TODAY).demand == expected


TICKETS = [
    ("KF-20261129-0001 进度怎么样", ("KF-20261129-0001",)),
    ("kf-20261129-0001", ("KF-20261129-0001",)),
    ("kf 20261129 0002 怎么样了", ("KF-20261129-0002",)),
    ("工单KF20261129-0003还没处理", ("KF-20261129-0003",)),
    ("ＫＦ－２０２６１１２９－０００４", ("KF-20261129-0004",)),
    ("KF-20261129-0001 和 KF-20261128-0012", ("KF-20261129-0001", "KF-20261128-0012")),
    ("订单号 2026112912345", ()),
    ("KF-2026-11", ()),
]


@pytest.mark.parametrize(("text", "expected"), TICKETS)
def test_ticket_numbers(text: str, expected: tuple[str, ...]) -> None:
    assert extract(text, TODAY).ticket_numbers == expected
    assert find_ticket_numbers(text) == expected


def test_a_ticket_number_is_no_date_phone_or_amount() -> None:
    found = extract("KF-20261129-0001 进度", TODAY)
    assert (found.dates, found.phones, found.amounts) == ((), (), ())


EMAILS = [
    ("我的邮箱是 Zhang.San@Example.com", ("zhang.san@example.com",)),
    ("发到ops+kefu@agency.com.cn就行", ("ops+kefu@agency.com.cn",)),
    ("邮箱：ｌｉ＠ｑｑ．ｃｏｍ", ("li@qq.com",)),
    ("mail me: a.b@c.io.", ("a.b@c.io",)),
    ("@所有人 看一下", ()),
]


@pytest.mark.parametrize(("text", "expected"), EMAILS)
def test_emails(text: str, expected: tuple[str, ...]) -> None:
    assert extract(text, TODAY).emails == expected


def test_the_issue_first_message_carries_every_detail() -> None:
    found = extract("冬季大促-信息流那个项目10月底开始跑的，到现在都没量，要补量或退款，电话13800138000", TODAY)
    assert found.project == "冬季大促-信息流"
    assert found.dates == (DateMention("10月底", d(10, 31), True),)
    assert found.demand == "要补量或退款"
    assert found.phones == ("13800138000",)
    assert (found.amounts, found.emails, found.ticket_numbers) == ((), (), ())


def test_a_long_mixed_message() -> None:
    found = extract(
        "hi 你好👋 我们Q4的「双十一开屏」上週三(11/18)开始投，预算三万五，到现在才消耗了¥3,000，"
        "要求补量！！联系我 ｚｈａｎｇ＠ａｇｅｎｃｙ．ｃｏｍ 或 138-0013-8000",
        TODAY,
    )
    assert found.project == "双十一开屏"
    assert [(m.text, m.day) for m in found.dates] == [("上週三", d(11, 18)), ("11/18", d(11, 18))]
    assert [(a.value, a.currency) for a in found.amounts] == [(Decimal(35000), None), (Decimal(3000), "CNY")]
    assert found.demand == "要求补量"
    assert found.emails == ("zhang@agency.com",)
    assert found.phones == ("13800138000",)


def test_nothing_in_small_talk() -> None:
    assert extract("在吗", TODAY) == extract("", TODAY) == extract("👍👍", TODAY)
    assert extract("在吗", TODAY).project is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("上周三", "date"),
        ("是上周三开始的", "date"),
        ("大概11月20号左右吧", "date"),
        ("since last Wednesday", "date"),
        # when it was seen rather than when it began
        ("上周三发现的", "date"),
        ("前天出的问题", "date"),
        ("上周三就这样了", "date"),
        ("It started last Monday.", "date"),
        ("138 1234 5678", "phone"),
        ("我电话是 138-1234-5678", "phone"),
        ("my number is +86 138 1234 5678", "phone"),
        ("邮箱 li@example.com", "email"),
        # the phone left when the ticket was filed
        ("当时留的是13800138254", "phone"),
    ],
)
def test_a_message_that_is_only_a_date_phone_or_email(text: str, kind: str) -> None:
    assert sole_entity(text, TODAY) == kind


@pytest.mark.parametrize(
    "text",
    [
        "双十一大促",
        "618活动",
        "国庆推文",
        "下周一前给答复",
        "上周三开始的，电话 13812345678",
        "电话一直打不通 13812345678",
        "对的",
        "yes",
        "KF-20261129-0001",
    ],
)
def test_a_message_that_says_more_is_not_only_a_date_phone_or_email(text: str) -> None:
    assert sole_entity(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "project"),
    [
        ("春季新品传单", "春季新品传单"),
        ("就是那个开业海报", "开业海报"),
        ("春季新品那个活动", "春季新品"),
        ("《年货节》", "年货节"),
        ("项目是双十一那个", "双十一"),
        # more than a name
        ("开业海报印的颜色偏差太大", None),
        ("你们是不是脑子有病啊", None),
        ("上周三", None),
    ],
)
def test_a_message_that_is_only_a_project(text: str, project: str | None) -> None:
    assert sole_project(text, TODAY) == project


def test_a_message_read_again_on_another_day_counts_its_days_from_that_day() -> None:
    text = "昨天开始的 13800138000"
    assert [m.day for m in extract(text, TODAY).dates] == [d(11, 28)]
    assert sole_entity("昨天开始的", TODAY) == "date"
    # Read again the next business day, the same words name another day.
    assert [m.day for m in extract(text, d(12, 1)).dates] == [d(11, 30)]
    assert extract(text, d(12, 1)).phones == find_phones(text) == ("13800138000",)
