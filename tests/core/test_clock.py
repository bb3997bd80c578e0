import datetime as dt

import pytest

from cybercoop.core import clock


def test_system_clock_is_aware_and_in_utc():
    now = clock.SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == dt.timedelta(0)


def test_frozen_clock_stands_still_until_moved():
    frozen = clock.FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert frozen.now() == frozen.now()
    frozen.advance(dt.timedelta(hours=72))
    assert frozen.now() == dt.datetime(2026, 1, 4, tzinfo=dt.UTC)


def test_frozen_clock_converts_to_utc():
    almaty = dt.timezone(dt.timedelta(hours=5))
    frozen = clock.FrozenClock(dt.datetime(2026, 1, 1, 5, 0, tzinfo=almaty))
    assert frozen.now() == dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert frozen.now().tzinfo == dt.UTC


def test_frozen_clock_refuses_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.FrozenClock(dt.datetime(2026, 1, 1))


def test_use_clock_swaps_the_process_clock_and_restores_it():
    frozen = clock.FrozenClock(dt.datetime(2030, 5, 1, tzinfo=dt.UTC))
    before = clock.get_clock()
    with clock.use_clock(frozen):
        assert clock.now() == dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    assert clock.get_clock() is before


def test_kazakh_dates_use_the_24_hour_clock(settings):
    from django.utils import formats, translation

    at = dt.datetime(2026, 11, 23, 16, 27, tzinfo=dt.UTC)
    with translation.override("kk"):
        assert formats.date_format(at, "DATETIME_FORMAT") == "23.11.2026 16:27"
