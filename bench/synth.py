"""A synthetic year shaped like config/demo/seed-2022.txt, at any number of items.

The same 11 columns and layout as the published table: blank lines and a title line first, the
header, tab-separated rows (UTF-8, ``\\n``), blank lines between some rows, 编号 and 领衔代表
swapped on most rows (8 of the seed's 11), and a separator row at the end. Titles, commitments
and feedback are clauses of the seed's own text recombined to the seed's lengths; 300 units lead
items, each item has 1 to 4 co units, and some proposals carry several items. Deterministic for
a given seed.
"""

import csv
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tracking.summary_writer import SUMMARY_HEADER

SEED_TABLE = Path(__file__).resolve().parent.parent / "config" / "demo" / "seed-2022.txt"
HEADER = SUMMARY_HEADER  # the seed's columns, in its order
UNIT_COUNT = 300
SWAPPED_SHARE = 8 / 11  # rows of the seed whose 编号 and 领衔代表 are swapped
BLANK_LINE_SHARE = 0.3  # the seed leaves a blank line after 3 of its 11 rows

_DOMAINS = [
    "民政局",
    "教育局",
    "财政局",
    "卫生健康委",
    "人力资源社会保障局",
    "发展改革委",
    "工业和信息化局",
    "公安局",
    "司法局",
    "自然资源局",
    "生态环境局",
    "住房城乡建设局",
    "城乡建设局",
    "交通运输局",
    "水务局",
    "农业农村局",
    "商务局",
    "文化旅游广电局",
    "应急管理局",
    "审计局",
    "市场监管局",
    "体育局",
    "统计局",
    "医疗保障局",
    "信访局",
    "城市管理局",
    "林业和草原局",
    "粮食和物资储备局",
    "退役军人事务局",
    "国资委",
    "科技局",
    "民族宗教局",
    "外事办",
    "地方金融监管局",
    "营商环境建设局",
    "大数据局",
    "人防办",
    "机关事务管理局",
    "行政审批局",
    "残联",
    "妇联",
    "总工会",
    "科协",
    "红十字会",
]
_REGIONS = [
    "市",
    "和平区",
    "沈河区",
    "大东区",
    "皇姑区",
    "铁西区",
    "苏家屯区",
    "浑南区",
    "沈北新区",
    "于洪区",
    "辽中区",
    "新民市",
    "康平县",
    "法库县",
]
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文边"  # noqa: E501
_GIVEN = "正义恕海美霖瑜铁岩际玲齐艳山毅松明华建国军平伟芳娜秀英敏静丽强磊洋勇艳杰涛超娟霞刚桂兰"
_CLAUSE = re.compile(r"[，。；：、！？\s]+")


@dataclass(frozen=True)
class SeedText:
    """The seed's text, cut into clauses, and the lengths of its cells."""

    clauses: tuple[str, ...]
    title_lengths: tuple[int, ...]
    commitment_lengths: tuple[int, ...]
    feedback_lengths: tuple[int, ...]


def read_seed(path: Path = SEED_TABLE) -> SeedText:
    with path.open(encoding="utf-8", newline="") as stream:
        rows = [row for row in csv.reader(stream, delimiter="\t") if len(row) == len(HEADER)]
    data = [row for row in rows[1:] if row[0].strip().isdigit()]  # past the header, no separator
    clauses = {
        clause.replace('"', "")
        for row in data
        for cell in (row[5], row[9], row[10])
        for clause in _CLAUSE.split(cell)
        if len(clause) >= 4
    }
    return SeedText(
        clauses=tuple(sorted(clauses)),
        title_lengths=tuple(len(row[5]) for row in data),
        commitment_lengths=tuple(len(row[9]) for row in data),
        feedback_lengths=tuple(len(row[10]) for row in data),
    )


def unit_names(count: int = UNIT_COUNT) -> list[str]:
    """``count`` distinct units: the city's bureaus first, then the districts' and counties'."""
    names = [f"{region}{domain}" for region in _REGIONS for domain in _DOMAINS]
    if count > len(names):
        raise ValueError(f"at most {len(names)} units")
    return names[:count]


def write_table(path: Path, items: int, *, year: int = 2022, seed: int = 2022) -> None:
    """A published-style table of ``items`` follow-up items for ``year``."""
    rng = random.Random(seed)
    text = read_seed()
    units = unit_names()
    lines = ["", "", f"市人民政府{year}年度跟踪办理建议提案落实情况汇总表", "", "\t".join(HEADER)]
    numbers = {"人大建议": 100, "政协提案": 100}
    written = 0
    while written < items:
        category = rng.choice(("人大建议", "政协提案"))
        numbers[category] += rng.randint(1, 3)
        proposal = _Proposal(
            category=category,
            number=str(numbers[category]),
            representative=_person(rng),
            signers=1 if rng.random() < 0.85 else rng.randint(2, 12),
            title=_title(rng, text, category),
            lead=rng.choice(units),
        )
        # Most proposals carry one item; some carry two or three (the same proposal, new rows).
        for place in range(min(rng.choices((1, 2, 3), weights=(80, 15, 5))[0], items - written)):
            written += 1
            co_units = rng.sample([u for u in units if u != proposal.lead], rng.randint(1, 4))
            lines.append("\t".join(_row(rng, text, written, place, proposal, co_units)))
            if rng.random() < BLANK_LINE_SHARE:
                lines.append("")
    lines.append("\t".join("-" * max(2, len(name) * 2) for name in HEADER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_units(path: Path, count: int = UNIT_COUNT) -> None:
    """A units file giving each unit a liaison and a deputy address (invented, example.org)."""
    blocks = [
        f'[[unit]]\nname = "{name}"\nemails = ["u{n}-duban@example.org"]\n'
        f'deputy = "u{n}-deputy@example.org"\n'
        for n, name in enumerate(unit_names(count), start=1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")


@dataclass(frozen=True)
class _Proposal:
    category: str
    number: str
    representative: str
    signers: int
    title: str
    lead: str


def _row(
    rng: random.Random,
    text: SeedText,
    seq: int,
    place: int,
    proposal: _Proposal,
    co_units: list[str],
) -> list[str]:
    number, representative = proposal.number, proposal.representative
    if rng.random() < SWAPPED_SHARE:
        number, representative = representative, number
    return [
        str(seq),
        proposal.category,
        number,
        representative,
        str(proposal.signers),
        proposal.title,
        "主办",
        proposal.lead,
        " ".join(co_units),
        # A proposal's later items are marked, so that no two of them read the same (the
        # importer refuses a repeated item).
        _sentence(rng, text, rng.choice(text.commitment_lengths))
        + (f"（第{place + 1}项）" if place else ""),
        _sentence(rng, text, rng.choice(text.feedback_lengths)),
    ]


def _person(rng: random.Random) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    surname = rng.choice(_SURNAMES)
    # Tables pad two-character names to three with a space (边 恕), as the seed does.
    return f"{surname} {given}" if len(given) == 1 and rng.random() < 0.7 else surname + given


def _title(rng: random.Random, text: SeedText, category: str) -> str:
    core = "".join(rng.sample(text.clauses, 3))[: max(6, rng.choice(text.title_lengths) - 5)]
    return f"关于{core}的{'建议' if category == '人大建议' else '提案'}"


def _sentence(rng: random.Random, text: SeedText, length: int) -> str:
    target = max(8, int(length * rng.uniform(0.8, 1.2)))
    parts: list[str] = []
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(text.clauses))
    return "，".join(parts)[:target].rstrip("，") + "。"
