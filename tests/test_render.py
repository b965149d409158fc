from datetime import date
from pathlib import Path
from typing import Any

import pytest

from notifications.errors import TemplateError
from notifications.render import EmailRenderer, cn_date


@pytest.fixture
def context() -> dict[str, Any]:
    return {
        "unit_name": "市住房和城乡建设局",
        "as_of": date(2022, 6, 15),
        "reply_by": date(2022, 6, 22),
        "body_name": "市民政局",
        "reply_instructions": "请通过督办系统填报或回复本邮件",
        "items": [
            {
                "category": "人大建议",
                "number": "0123",
                "title": "关于加快老旧小区加装电梯的建议",
                "lead_representative": "张伟",
                "commitment": "2022年底前完成50个老旧小区加装电梯",
                "role_label": "主办",
                "lead_unit": "市住房和城乡建设局",
                "co_units": ["市财政局", "市规划和自然资源局"],
                "due_date": date(2022, 12, 31),
                "last_reported_on": None,
                "item_id": 12,
            },
            {
                "category": "政协提案",
                "number": "45",
                "title": "关于<script>alert(1)</script>完善社区养老服务的提案",
                "lead_representative": "李娜",
                "commitment": "新增社区养老服务站10个",
                "role_label": "协办",
                "lead_unit": "市民政局",
                "co_units": ["市住房和城乡建设局"],
                "due_date": None,
                "last_reported_on": date(2022, 3, 1),
                "item_id": 13,
            },
        ],
    }


def test_cn_date() -> None:
    assert cn_date(date(2022, 6, 15)) == "2022年6月15日"
    assert cn_date(None) == "—"


def test_digest_subject_names_deadline_and_count(context: dict[str, Any]) -> None:
    rendered = EmailRenderer().render("digest", context)
    assert rendered.subject == "【督办提醒】请于2022年6月22日前报送2项建议提案落实进展"


def test_digest_text_lists_each_item_with_what_is_owed(context: dict[str, Any]) -> None:
    text = EmailRenderer().render("digest", context).text

    assert text.startswith("市住房和城乡建设局：")
    assert "截至2022年6月15日" in text
    first, second = text.split("\n1. ", 1)[1].split("\n2. ", 1)
    assert first.startswith("人大建议第0123号：关于加快老旧小区加装电梯的建议")
    assert "领衔代表：张伟" in first
    assert "需报送：落实进展或最终落实情况" in first
    assert "协办单位：市财政局、市规划和自然资源局" in first
    assert "办理时限：2022年12月31日" in first
    assert "上次报送：尚未报送" in first
    assert "事项编号：12" in first
    assert second.startswith("政协提案第45号：关于<script>")  # plain text is not escaped
    assert "提案人：李娜" in second
    assert "需报送：协办意见和进展" in second
    assert "办理时限：—" in second
    assert "上次报送：2022年3月1日" in second
    assert "请通过督办系统填报或回复本邮件，并于2022年6月22日前完成报送" in text
    assert "特此提醒。\n\n市民政局\n2022年6月15日\n" in text


def test_digest_html_is_a_bordered_table_and_escapes_titles(context: dict[str, Any]) -> None:
    html = EmailRenderer().render("digest", context).html

    assert "<script>" not in html
    assert "关于&lt;script&gt;alert(1)&lt;/script&gt;完善社区养老服务的提案" in html
    assert 'border="1"' in html
    assert html.count("<tr>") == 2  # one row per item; the header row carries a style
    assert "关于加快老旧小区加装电梯的建议" in html
    assert "2022年12月31日" in html
    assert "市民政局<br>2022年6月15日" in html
    assert "<link" not in html and "src=" not in html  # nothing fetched from outside


def test_override_dir_replaces_only_the_files_it_holds(
    context: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "digest-subject.txt").write_text(
        "关于报送建议提案\n办理进展的提醒（{{ unit_name }}）\n", encoding="utf-8"
    )
    shipped = EmailRenderer().render("digest", context)

    rendered = EmailRenderer(override_dir=tmp_path).render("digest", context)

    assert rendered.subject == "关于报送建议提案 办理进展的提醒（市住房和城乡建设局）"
    assert rendered.text == shipped.text
    assert rendered.html == shipped.html


def test_missing_override_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        EmailRenderer(override_dir=tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("key", "template"),
    [("reply_by", "digest-subject.txt"), ("unit_name", "digest-body.txt")],
)
def test_missing_key_is_an_error_naming_the_template(
    context: dict[str, Any], key: str, template: str
) -> None:
    del context[key]
    with pytest.raises(TemplateError, match=rf"^{template}: .*'{key}' is undefined"):
        EmailRenderer().render("digest", context)


@pytest.mark.parametrize("key", ["commitment", "due_date"])
def test_missing_item_key_is_an_error_naming_the_template(
    context: dict[str, Any], key: str
) -> None:
    del context["items"][1][key]
    with pytest.raises(TemplateError, match=rf"^digest-body\.txt: .*'{key}'"):
        EmailRenderer().render("digest", context)


def test_unknown_kind_is_an_error_naming_the_template(context: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match=r"^nosuch-subject\.txt: template not found"):
        EmailRenderer().render("nosuch", context)


def test_syntax_error_in_override_names_the_template(
    context: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "digest-body.html").write_text("<p>{% if %}</p>", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"^digest-body\.html: line 1: "):
        EmailRenderer(override_dir=tmp_path).render("digest", context)
