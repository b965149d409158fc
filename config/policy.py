"""The handling policy: deadlines, reply classes, the reminder ladder and calendar corrections.

The rules come from public regulations that vary by locality, so every value is configuration.
The defaults below are the common ones and equal the shipped ``config/policy.toml``. The policy
is read once by :func:`load_policy` and validated there: a bad value raises
:class:`config.settings.ConfigError` with one line per problem, each naming the file and the key,
e.g. ``config/policy.toml: ladder.overdue_every_working_days: Input should be greater than 0
(got 0)``. Entries of an array of tables (``[[deadlines.batches]]``) are counted from 1 there.

Policy
 ├── deadlines      DeadlineRules (periods, extensions, reopening, year-end dates, FixedBatch list)
 ├── reply_classes  ClassScheme (name and its ReplyClass list: A/B/C/D, A/B/C or 甲/乙/丙)
 ├── ladder         LadderPolicy (reminder stages, escalation, office hours, coordinators)
 └── calendar       CalendarCorrections (local holidays and make-up working days)
"""

import difflib
import itertools
import os
import re
import tomllib
import typing
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from config.settings import ConfigError

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.toml")

# The proposer's rating of a reply (满意度测评); the vocabulary is national, not local.
RATINGS = ("满意", "基本满意", "不满意")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Months = Annotated[int, Field(gt=0, le=12)]  # le=12 catches days typed where months are meant
WorkingDays = Annotated[int, Field(gt=0, le=60)]


def _check_month_day(value: str) -> str:
    if not re.fullmatch(r"\d{2}-\d{2}", value):
        raise ValueError('must be a month and day written "MM-DD", e.g. "11-20"')
    month, day = int(value[:2]), int(value[3:])
    if (month, day) == (2, 29):
        raise ValueError("02-29 does not exist every year; use 02-28 or 03-01")
    try:
        date(2001, month, day)
    except ValueError:
        raise ValueError(f"no such day: month {month}, day {day}") from None
    return value


MonthDay = Annotated[str, AfterValidator(_check_month_day)]


def _field_error(field: str, message: str) -> PydanticCustomError:
    """A check across fields, reported against the field the editor should change."""
    return PydanticCustomError(
        "policy_field", "{field}: {message}", {"field": field, "message": message}
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedBatch(_Model):
    """A fixed calendar deadline for the items assigned in a date range, instead of a period."""

    name: str = ""
    assigned_from: date
    assigned_to: date
    reply_due: date
    co_opinion_due: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "FixedBatch":
        if self.assigned_to < self.assigned_from:
            raise _field_error(
                "assigned_to", f"{self.assigned_to} is before assigned_from {self.assigned_from}"
            )
        if self.reply_due <= self.assigned_to:
            raise _field_error(
                "reply_due", f"{self.reply_due} must be after assigned_to {self.assigned_to}"
            )
        if self.co_opinion_due is not None and not (
            self.assigned_to < self.co_opinion_due <= self.reply_due
        ):
            raise _field_error(
                "co_opinion_due",
                f"{self.co_opinion_due} must be after assigned_to {self.assigned_to} "
                f"and not after reply_due {self.reply_due}",
            )
        return self

    def covers(self, assigned_on: date) -> bool:
        return self.assigned_from <= assigned_on <= self.assigned_to

    @property
    def title(self) -> str:
        span = f"{self.assigned_from} to {self.assigned_to}"
        return f"{self.name} ({span})" if self.name else span


class DeadlineRules(_Model):
    reply_months: Months = 3
    extension_max_months: Annotated[int, Field(ge=0, le=12)] = 3
    co_opinion_months: Months = 1
    objection_working_days: WorkingDays = 5
    reopen_months: Months = 1
    reopen_ratings: tuple[str, ...] = ("不满意",)
    # What happens to a due date that falls on a non-working day.
    due_on_non_working_day: Literal["next_workday", "previous_workday", "keep"] = "next_workday"
    second_reply_by: MonthDay = "11-20"
    second_reply_classes: tuple[Text, ...] = ("B", "C")
    year_end_check_by: MonthDay = "11-20"
    year_end_check_classes: tuple[Text, ...] = ("B", "C")
    batches: tuple[FixedBatch, ...] = ()

    @field_validator("reopen_ratings")
    @classmethod
    def _known_ratings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [rating for rating in value if rating not in RATINGS]
        if unknown:
            raise ValueError(
                f"unknown rating {', '.join(unknown)}; the ratings are {', '.join(RATINGS)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a rating is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "DeadlineRules":
        if self.co_opinion_months > self.reply_months:
            raise _field_error(
                "co_opinion_months",
                f"{self.co_opinion_months} months is later than the reply itself "
                f"(reply_months = {self.reply_months}); the lead needs the opinion first",
            )
        ordered = sorted(enumerate(self.batches, start=1), key=lambda pair: pair[1].assigned_from)
        for (i, earlier), (j, later) in itertools.pairwise(ordered):
            if later.assigned_from <= earlier.assigned_to:
                raise _field_error(
                    "batches",
                    f"entries {min(i, j)} and {max(i, j)} overlap "
                    f"({earlier.title} and {later.title}); an item must fall in one batch",
                )
        return self

    def reopens(self, rating: str) -> bool:
        """Whether this rating sends the item back for 重新办理."""
        return rating in self.reopen_ratings

    def batch_for(self, assigned_on: date) -> tuple[int, FixedBatch] | None:
        """The fixed batch (numbered from 1, as in the file) an assignment date falls in."""
        for number, batch in enumerate(self.batches, start=1):
            if batch.covers(assigned_on):
                return number, batch
        return None


class ReplyClass(_Model):
    code: Text
    label: Text
    follow_up: bool = False  # stays under follow-up (跟踪落实) after the reply


class ClassScheme(_Model):
    name: Text = "ABCD"
    classes: tuple[ReplyClass, ...] = (
        ReplyClass(code="A", label="已解决或基本解决"),
        ReplyClass(code="B", label="正在解决或列入计划逐步解决", follow_up=True),
        ReplyClass(code="C", label="因条件限制需待以后解决", follow_up=True),
        ReplyClass(code="D", label="留作参考"),
    )

    @field_validator("classes")
    @classmethod
    def _distinct_codes(cls, value: tuple[ReplyClass, ...]) -> tuple[ReplyClass, ...]:
        if not value:
            raise ValueError("a scheme needs at least one class")
        codes = [reply_class.code for reply_class in value]
        twice = sorted({code for code in codes if codes.count(code) > 1})
        if twice:
            raise ValueError(f"class code listed twice: {', '.join(twice)}")
        return value

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reply_class.code for reply_class in self.classes)

    def get(self, code: str) -> ReplyClass:
        """The class with this code; KeyError names the scheme's codes."""
        for reply_class in self.classes:
            if reply_class.code == code:
                return reply_class
        raise KeyError(f"no class {code!r} in scheme {self.name} ({', '.join(self.codes)})")


class LadderPolicy(_Model):
    """The reminder ladder relative to each deadline; the chase code applies it."""

    before_due_working_days: tuple[Annotated[int, Field(gt=0, le=60)], ...] = (5,)
    on_due_day: bool = True
    overdue_every_working_days: WorkingDays = 3
    # Once this many overdue reminders have gone out, the next ones also go to ...
    escalate_to_head_after: Annotated[int, Field(gt=0)] = 2
    escalate_to_coordinator_after: Annotated[int, Field(gt=0)] = 4
    working_days_only: bool = True
    office_hours_start: time = time(9, 0)
    office_hours_end: time = time(17, 30)
    coordinator_emails: tuple[str, ...] = ()

    @field_validator("before_due_working_days")
    @classmethod
    def _distinct_stages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a stage is listed twice")
        return tuple(sorted(value, reverse=True))  # earliest stage first

    @field_validator("coordinator_emails")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [address for address in value if not re.fullmatch(r"[^@\s]+@[^@\s]+", address)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(map(repr, bad))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "LadderPolicy":
        if self.office_hours_start >= self.office_hours_end:
            raise _field_error(
                "office_hours_start",
                f"{self.office_hours_start:%H:%M} must be before "
                f"office_hours_end {self.office_hours_end:%H:%M}",
            )
        if self.escalate_to_coordinator_after < self.escalate_to_head_after:
            raise _field_error(
                "escalate_to_coordinator_after",
                f"{self.escalate_to_coordinator_after} is before escalate_to_head_after "
                f"{self.escalate_to_head_after}; the coordinator is the last step",
            )
        return self


class CalendarCorrections(_Model):
    """Dates that override chinesecalendar's data, or supply a year it does not know yet."""

    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _disjoint(self) -> "CalendarCorrections":
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            raise _field_error(
                "extra_workdays",
                f"{', '.join(map(str, both))} also listed in extra_holidays; keep one",
            )
        return self


class Policy(_Model):
    deadlines: DeadlineRules = DeadlineRules()
    reply_classes: ClassScheme = ClassScheme()
    ladder: LadderPolicy = LadderPolicy()
    calendar: CalendarCorrections = CalendarCorrections()

    @model_validator(mode="after")
    def _known_class_codes(self) -> "Policy":
        codes = self.reply_classes.codes
        for field in ("second_reply_classes", "year_end_check_classes"):
            unknown = [code for code in getattr(self.deadlines, field) if code not in codes]
            if unknown:
                raise _field_error(
                    f"deadlines.{field}",
                    f"unknown class code {', '.join(map(repr, unknown))} "
                    f"(scheme {self.reply_classes.name} has {', '.join(codes)})",
                )
        return self


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy (default: ``policy.toml`` beside this module).

    A key left out takes its default. Raises ConfigError with one line per problem."""
    path = path or DEFAULT_POLICY_FILE
    shown = _shown(path)
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the policy file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(values)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(exc, shown))) from None


def _shown(path: Path) -> str:
    """The path as the editor knows it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return os.fspath(path)


def _describe(exc: ValidationError, shown: str) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        if error["type"] == "policy_field":
            ctx = error.get("ctx", {})
            lines.append(f"{shown}: {_key([*loc, ctx['field']])}: {ctx['message']}")
        elif error["type"] == "extra_forbidden":
            hint = _suggestion(loc)
            lines.append(f"{shown}: {_key(loc)}: unknown key{hint}")
        elif error["type"] == "missing":
            lines.append(f"{shown}: {_key(loc)}: required")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{shown}: {_key(loc)}: {message} (got {_plain(error.get('input'))})")
    return lines


def _key(loc: list[Any]) -> str:
    """``ladder.before_due_working_days[1]``: positions counted from 1, as an editor counts."""
    key = ""
    for part in loc:
        key += f"[{part + 1}]" if isinstance(part, int) else ("." if key else "") + str(part)
    return key or "(top level)"


def _plain(value: object) -> str:
    # TOML arrays arrive as lists; show them as the editor wrote them.
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(item) for item in value) + "]"
    return repr(value)


def _suggestion(loc: list[Any]) -> str:
    """' (did you mean ...?)' for a misspelt key, from the fields of the table it sits in."""
    model: Any = Policy
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        model = _model_in(field.annotation) if field else None
        if model is None:
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
