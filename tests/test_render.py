from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from config.settings import Settings
from flows.app import App
from flows.delivery import digest_context
from flows.web.links import UnitLink
from notifications.errors import TemplateError
from notifications.render import EmailRenderer, cn_date
from tracking.chase import LIAISON, Digest, Entry
from tracking.ladder import Stage
from tracking.models import Role
from tracking.obligations import Obligation
from tracking.workdays import WorkCalendar


@pytest.fixture
def context() -> dict[str, Any]:
    """A liaison's digest as flows.delivery.digest_context builds it (checked below)."""
    return {
        "unit_name": "市住房和城乡建设局",
        "audience": "liaison",
        "as_of": date(2022, 6, 15),
        "reply_by": date(2022, 6, 22),
        "body_name": "市民政局",
        "reply_instructions": "请通过督办系统填报或回复本邮件",
        "unit_link": {
            "url": "https://duban.example.gov.cn/u/eyJ1IjoxLCJ2IjoxfQ.YqkWOA.sig",
            "expires_on": date(2022, 9, 12),
        },
        "items": [
            {
                "item_id": 12,
                "unit_name": "市住房和城乡建设局",
                "category": "人大建议",
                "number": "0123",
                "title": "关于加快老旧小区加装电梯的建议",
                "lead_representative": "张伟",
                "commitment": "2022年底前完成50个老旧小区加装电梯",
                "role_label": "主办",
                "lead_unit": "市住房和城乡建设局",
                "co_units": ["市财政局", "市规划和自然资源局"],
                "obligation_label": "报送落实进展",
                "due_date": date(2022, 6, 22),
                "stage_label": "5个工作日后到期",
                "overdue_workdays": 0,
                "last_reported_on": None,
            },
            {
                "item_id": 13,
                "unit_name": "市住房和城乡建设局",
                "category": "政协提案",
                "number": "45",
                "title": "关于<script>alert(1)</script>完善社区养老服务的提案",
                "lead_representative": "李娜",
                "commitment": "新增社区养老服务站10个",
                "role_label": "协办",
                "lead_unit": "市民政局",
                "co_units": ["市住房和城乡建设局"],
                "obligation_label": "向主办单位提交协办意见",
                "due_date": date(2022, 6, 10),
                "stage_label": "已逾期3个工作日",
                "overdue_workdays": 3,
                "last_reported_on": date(2022, 3, 1),
            },
        ],
    }


def test_the_context_has_the_shape_a_chase_passes(context: dict[str, Any]) -> None:
    """The fixture above is what a real run renders: same keys, and the first item's values are
    those delivery derives from a plan entry."""
    entry = Entry(
        assignment_id=1,
        unit_id=1,
        unit_name="市住房和城乡建设局",
        item_id=12,
        obligation=Obligation.PROGRESS,
        due=date(2022, 6, 22),
        stage=Stage("before-5", date(2022, 6, 15), 0),
        role=Role.LEAD,
        category="人大建议",
        number="0123",
        title="关于加快老旧小区加装电梯的建议",
        lead_representative="张伟",
        commitment="2022年底前完成50个老旧小区加装电梯",
        lead_unit="市住房和城乡建设局",
        co_units=("市财政局", "市规划和自然资源局"),
        last_reported_on=None,
        overdue_workdays=0,
        days_left=5,
    )
    digest = Digest(
        audience=LIAISON,
        unit_id=1,
        unit_name="市住房和城乡建设局",
        recipients=("zjj-duban@example.org",),
        entries=(entry,),
        key="digest:1:2022-06-15",
    )
    settings = Settings(body_name="市民政局", reply_within_days=7)
    app = SimpleNamespace(settings=settings, calendar=WorkCalendar())
    link = UnitLink(url=context["unit_link"]["url"], token="", expires_on=date(2022, 9, 12))
    real = digest_context(cast(App, app), digest, date(2022, 6, 15), unit_link=link)

    assert set(real) == set(context)
    assert (real["audience"], real["as_of"], real["reply_by"]) == (
        "liaison",
        date(2022, 6, 15),
        date(2022, 6, 22),
    )
    assert real["items"] == context["items"][:1]
    assert real["unit_link"] == context["unit_link"]


def test_cn_date() -> None:
    assert cn_date(date(2022, 6, 15)) == "2022年6月15日"
    assert cn_date(None) == "—"


@pytest.mark.parametrize(
    ("audience", "overdue", "subject"),
    [
        ("liaison", 3, "【督办提醒】2项建议提案事项待办理（其中1项已逾期）"),
        ("liaison", 0, "【督办提醒】2项建议提案事项待办理"),
        ("head", 3, "【督办提醒·请领导督促】市住房和城乡建设局有2项建议提案事项逾期未报"),
        ("coordinator", 3, "【督办通报】2项建议提案事项多次催办仍逾期未报"),
    ],
)
def test_digest_subject_counts_the_items_and_the_overdue_ones(
    context: dict[str, Any], audience: str, overdue: int, subject: str
) -> None:
    context["audience"] = audience
    context["items"][1]["overdue_workdays"] = overdue
    assert EmailRenderer().render("digest", context).subject == subject


def test_digest_text_lists_each_item_with_what_is_owed(context: dict[str, Any]) -> None:
    text = EmailRenderer().render("digest", context).text

    assert text.startswith("市住房和城乡建设局：")
    assert "截至2022年6月15日，贵单位承办的以下2项" in text
    first, second = text.split("\n1. ", 1)[1].split("\n2. ", 1)
    assert first.startswith("人大建议第0123号：关于加快老旧小区加装电梯的建议")
    assert "领衔代表：张伟" in first
    handling = (
        "承办方式：主办（主办单位：市住房和城乡建设局；协办单位：市财政局、市规划和自然资源局）"
    )
    assert handling in first
    assert "需办理：报送落实进展" in first
    assert "办理时限：2022年6月22日（5个工作日后到期）" in first
    assert "上次报送：尚未报送" in first
    assert "事项编号：12" in first
    assert "承办单位：" not in first  # the liaison knows its own unit
    assert second.startswith("政协提案第45号：关于<script>")  # plain text is not escaped
    assert "提案人：李娜" in second
    assert "需办理：向主办单位提交协办意见" in second
    assert "办理时限：2022年6月10日（已逾期3个工作日）" in second
    assert "上次报送：2022年3月1日" in second
    assert (
        "请通过督办系统填报或回复本邮件。已逾期的事项，请于2022年6月22日前补报；"
        "其余事项请在办理时限前报送。报送时请注明建议提案编号和事项编号。\n\n"
        "在线填报：https://duban.example.gov.cn/u/eyJ1IjoxLCJ2IjoxfQ.YqkWOA.sig "
        "（本链接仅供贵单位使用，请勿转发；有效期至2022年9月12日）\n\n特此提醒。"
    ) in text
    assert "特此提醒。\n\n市民政局\n2022年6月15日\n" in text


def test_digest_text_to_the_head_asks_them_to_press_the_unit(context: dict[str, Any]) -> None:
    context["audience"] = "head"
    text = EmailRenderer().render("digest", context).text

    assert text.startswith("市住房和城乡建设局：")
    assert (
        "贵单位承办的以下2项人大代表建议、政协委员提案事项已多次提醒，至今逾期未报。"
        "请督促承办人员抓紧办理，于2022年6月22日前报送。"
    ) in text
    assert "截至" not in text
    assert "办理时限：2022年6月10日（已逾期3个工作日）" in text


def test_digest_text_to_the_coordinator_names_each_items_unit(context: dict[str, Any]) -> None:
    context["audience"] = "coordinator"
    context["items"][1]["unit_name"] = "市民政局"
    text = EmailRenderer().render("digest", context).text

    assert text.startswith("督办工作负责人：")
    opening = "以下2项人大代表建议、政协委员提案事项已多次提醒承办单位，至今逾期未报，请协调督办。"
    assert opening in text
    first, second = text.split("\n1. ", 1)[1].split("\n2. ", 1)
    assert "承办单位：市住房和城乡建设局（主办）" in first
    assert "承办单位：市民政局（协办）" in second
    assert "请督促相关单位于2022年6月22日前报送。" in text
    assert "请通过督办系统填报" not in text
    assert "在线填报" not in text  # a unit's link is for the unit's own digests


def test_digest_html_is_a_bordered_table_and_escapes_titles(context: dict[str, Any]) -> None:
    html = EmailRenderer().render("digest", context).html

    assert "<script>" not in html
    assert "关于&lt;script&gt;alert(1)&lt;/script&gt;完善社区养老服务的提案" in html
    assert 'border="1"' in html
    assert html.count("<tr>") == 2  # one row per item; the header row carries a style
    assert "关于加快老旧小区加装电梯的建议" in html
    assert ">报送落实进展</td>" in html and ">向主办单位提交协办意见</td>" in html
    assert '2022年6月22日<br><span style="color:#666666;">5个工作日后到期</span>' in html
    assert '2022年6月10日<br><span style="color:#c00000;">已逾期3个工作日</span>' in html
    assert "市民政局<br>2022年6月15日" in html
    url = "https://duban.example.gov.cn/u/eyJ1IjoxLCJ2IjoxfQ.YqkWOA.sig"
    assert f'在线填报：<a href="{url}">{url}</a>（本链接仅供贵单位使用，请勿转发；' in html
    assert "<link" not in html and "src=" not in html  # nothing fetched from outside


def test_digest_html_to_the_coordinator_names_each_items_unit(context: dict[str, Any]) -> None:
    liaison = EmailRenderer().render("digest", context).html
    context["audience"] = "coordinator"
    html = EmailRenderer().render("digest", context).html

    assert "督办工作负责人：" in html and "市住房和城乡建设局：" not in html
    assert html.count("市住房和城乡建设局<br><strong>") == 2
    assert "市住房和城乡建设局<br><strong>" not in liaison


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
    [
        ("audience", "digest-subject.txt"),
        ("unit_name", "digest-body.txt"),
        ("reply_by", "digest-body.txt"),
    ],
)
def test_missing_key_is_an_error_naming_the_template(
    context: dict[str, Any], key: str, template: str
) -> None:
    del context[key]
    with pytest.raises(TemplateError, match=rf"^{template}: .*'{key}' is undefined"):
        EmailRenderer().render("digest", context)


@pytest.mark.parametrize(
    ("key", "template"),
    [
        ("overdue_workdays", "digest-subject.txt"),
        ("commitment", "digest-body.txt"),
        ("due_date", "digest-body.txt"),
        ("obligation_label", "digest-body.txt"),
        ("stage_label", "digest-body.txt"),
    ],
)
def test_missing_item_key_is_an_error_naming_the_template(
    context: dict[str, Any], key: str, template: str
) -> None:
    del context["items"][1][key]
    with pytest.raises(TemplateError, match=rf"^{template}: .*'{key}'"):
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


def test_without_overdue_items_no_late_report_date_is_asked(context: dict[str, Any]) -> None:
    context["items"] = context["items"][:1]  # due in 5 working days
    context["items"][0]["lead_representative"] = ""
    text = EmailRenderer().render("digest", context).text
    assert "补报" not in text and "其余事项请在办理时限前报送" in text
    assert "领衔代表：" not in text  # an empty field is left out, not printed blank


def test_without_a_link_the_digest_reads_as_before(context: dict[str, Any]) -> None:
    context["unit_link"] = None
    rendered = EmailRenderer().render("digest", context)
    assert "在线填报" not in rendered.text and "在线填报" not in rendered.html
    assert "报送时请注明建议提案编号和事项编号。\n\n特此提醒。" in rendered.text
