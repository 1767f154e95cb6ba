"""FEEL's working-day functions (niva's additions, named like Camunda's temporal built-ins):
the process's calendar comes with the deployed version's reference data, as ``now()`` and
its zone come with the evaluation; dates counted by hand against a printed calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from process_models.calendars import with_snapshot
from process_models.feel import FeelError, compile_feel

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OSLO = ZoneInfo("Europe/Oslo")
SE = with_snapshot({}, "SE", 2026)
NO = with_snapshot({}, "NO", 2026)
NOW = datetime(2027, 6, 24, 10, 0, tzinfo=UTC)  # Thursday before midsommarafton


def feel(text: str, reference=SE, now: datetime = NOW, tz: ZoneInfo = STOCKHOLM):
    return compile_feel(text).evaluate({}, now=now, tz=tz, reference=reference)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('is working day(date("2027-06-24"))', True),
        ('is working day(date("2027-06-25"))', False),  # midsommarafton
        ('is working day(date("2027-12-24"))', False),  # julafton
        ('next working day(date("2027-06-25"))', "2027-06-28"),
        ('next working day(date("2027-12-24"))', "2027-12-27"),
        ('next working day(date("2027-06-24"))', "2027-06-24"),  # already one
        ('previous working day(date("2027-06-27"))', "2027-06-24"),
        ('add working days(date("2027-06-24"), 1)', "2027-06-28"),
        ('add working days(date("2027-06-28"), -1)', "2027-06-24"),
        ('add working days(date: date("2027-06-24"), days: 0)', "2027-06-24"),
        ("add working days(today(), 10)", "2027-07-09"),
        # A date and time keeps its wall-clock time; a local one stays local.
        ('next working day(date and time("2027-12-24T09:00:00"))', "2027-12-27T09:00:00"),
        ("next working day(now())", "2027-06-24T12:00:00@Europe/Stockholm"),
    ],
)
def test_working_day_functions_count_with_the_swedish_calendar(text: str, expected: object):
    assert feel(text) == expected


def test_a_zoned_date_and_time_belongs_to_its_day_in_the_process_zone():
    # 23:30 UTC on the 24th is already midsommarafton in Stockholm.
    assert feel('is working day(date and time("2027-06-24T23:30:00Z"))') is False
    assert feel('next working day(date and time("2027-06-24T23:30:00Z"))') == (
        "2027-06-27T23:30:00Z"
    )


def test_norway_counts_17_may_but_not_julaften():
    assert feel('next working day(date("2027-05-17"))', NO, tz=OSLO) == "2027-05-18"
    assert feel('is working day(date("2027-12-24"))', NO, tz=OSLO) is True
    # The NO annual report of 2031, due Saturday 1 March, is due Monday 3 March.
    assert feel('next working day(date("2031-03-01"))', NO, tz=OSLO) == "2031-03-03"


def test_a_wrong_argument_is_null_as_for_every_builtin():
    assert feel('is working day("2027-06-24")') is None
    assert feel('add working days(date("2027-06-24"), 1.5)') is None
    assert feel('add working days(date("2027-06-24"), 20000)') is None


def test_without_a_calendar_the_call_is_an_error_not_null():
    with pytest.raises(FeelError, match=r'declare <niva:calendar value="SE"/>'):
        feel('is working day(date("2027-06-24"))', reference={})
    with pytest.raises(FeelError, match="add working days"):
        feel("add working days(today(), 2)", reference=None)


def test_the_snapshot_not_the_library_decides():
    # A snapshot without midsommarafton (as a different library version could give)
    # counts that Friday as a working day: the functions read only the snapshot.
    altered = dict(SE)
    snap = dict(altered["niva:calendar"])
    snap["days"] = {**snap["days"], "2027": [d for d in snap["days"]["2027"] if d != "06-25"]}
    altered["niva:calendar"] = snap
    assert feel('is working day(date("2027-06-25"))', altered) is True
