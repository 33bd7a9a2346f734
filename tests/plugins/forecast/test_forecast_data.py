"""The CSV loader: shapes, frequencies, integer steps, and every bad input of issue 3."""

import numpy as np
import pandas as pd
import pytest
from rnnsuite.core import UserError
from rnnsuite.plugins.forecast.data import (
    calendar_features,
    future_index,
    horizon_for_freq,
    load_csv,
    normalize_freq,
    season_for_freq,
)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wide_monthly_every_column_is_a_series(tmp_path):
    path = write(tmp_path, "month,a,b\n2020-01,1,10\n2020-02,2,20\n2020-03,3,30\n2020-04,4,40\n")
    data = load_csv(path, echo=False)
    assert data.shape == "wide" and data.freq == "MS" and data.ids == ["a", "b"]
    np.testing.assert_array_equal(data.series[1].values, [10, 20, 30, 40])
    assert data.series[0].time[0] == pd.Timestamp("2020-01-01")
    assert data.warnings == []


def test_long_format_with_covariate(tmp_path):
    rows = ["series_id,date,value,promo"]
    for sid, base in (("x", 0), ("y", 100)):
        rows += [f"{sid},2021-01-0{d},{base + d},{d % 2}" for d in range(1, 8)]
    data = load_csv(write(tmp_path, "\n".join(rows) + "\n"), echo=False)
    assert data.shape == "long" and data.freq == "D" and data.ids == ["x", "y"]
    assert data.covariate_names == ["promo"]
    np.testing.assert_array_equal(data.series[1].values, np.arange(101, 108))
    assert data.series[0].covariates.shape == (7, 1)


def test_daily_frequency_and_calendar(tmp_path):
    dates = pd.date_range("2022-03-01", periods=30, freq="D")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sales": np.arange(30.0) + 1})
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = load_csv(tmp_path / "d.csv", echo=False)
    assert data.freq == "D" and season_for_freq(data.freq) == 7 and horizon_for_freq(data.freq) == 14
    cal = calendar_features(data.series[0].time, data.freq)
    assert cal.shape == (30, 4)
    # 2022-03-01 is a Tuesday: day of week 1 -> angle 2*pi/7
    assert cal[0, 0] == pytest.approx(np.sin(2 * np.pi / 7))


def test_weekly_quarterly_yearly_frequencies(tmp_path):
    weekly = write(tmp_path, "date,v\n" + "\n".join(f"{d:%Y-%m-%d},{i + 1}" for i, d in enumerate(pd.date_range("2020-01-05", periods=6, freq="W-SUN"))), "w.csv")
    quarterly = write(tmp_path, "date,v\n2019-01-01,1\n2019-04-01,2\n2019-07-01,3\n2019-10-01,4\n", "q.csv")
    yearly = write(tmp_path, "year,v\n2001,1\n2002,2\n2003,3\n", "y.csv")
    assert load_csv(weekly, echo=False).freq == "W-SUN"
    assert season_for_freq(load_csv(quarterly, echo=False).freq) == 4
    data = load_csv(yearly, echo=False)
    assert season_for_freq(data.freq) == 1 and data.series[0].time[-1] == pd.Timestamp("2003-01-01")


@pytest.mark.parametrize("freq, season, horizon", [
    ("h", 24, 48), ("min", 60, 60), ("s", 60, 60), ("D", 7, 14), ("W-SUN", 52, 13), ("MS", 12, 18),
    ("30min", 48, 48), ("15min", 96, 96), ("5min", 288, 288),   # a day of their own steps
    ("2min", 30, 30), ("30s", 120, 120), ("10s", 6, 6),           # a day (an hour) too long: the hour (minute)
    ("2h", 12, 12), ("5h", 1, 10), ("2D", 1, 7),                  # 5 does not divide 24, nor 2 divide 7
    ("2W-SUN", 26, 6), ("3MS", 4, 6), ("2QS-OCT", 2, 4), ("SMS-15", 24, 18)])
def test_multiples_count_the_same_cycle_in_their_own_steps(freq, season, horizon):
    assert (season_for_freq(freq), horizon_for_freq(freq)) == (season, horizon)


def test_half_hourly_data_has_a_daily_season(tmp_path):
    dates = pd.date_range("2000-06-05", periods=200, freq="30min")
    pd.DataFrame({"date": dates, "load": np.arange(200.0)}).to_csv(tmp_path / "e.csv", index=False)
    data = load_csv(tmp_path / "e.csv", echo=False)
    assert data.freq == "30min" and season_for_freq(data.freq) == 48


def test_integer_steps_without_dates(tmp_path):
    data = load_csv(write(tmp_path, "t,load\n0,5\n1,6\n2,7\n3,8\n"), echo=False)
    assert data.freq is None and data.step == 1
    assert list(future_index(data.series[0], 3, None, 1)) == [4, 5, 6]
    headerless_index = load_csv(write(tmp_path, "a,b\n1,2\n3,4\n5,6\n", "n.csv"), echo=False)
    assert headerless_index.freq is None and headerless_index.ids == ["a", "b"]


def test_integer_steps_with_gap_are_filled(tmp_path):
    data = load_csv(write(tmp_path, "step,v\n0,1\n2,3\n4,5\n6,9\n"), echo=False)
    assert data.step == 2 and data.warnings == []
    data = load_csv(write(tmp_path, "step,v\n0,1\n1,2\n3,4\n", "g.csv"), echo=False)
    np.testing.assert_array_equal(data.series[0].values, [1, 2, 3, 4])


def test_gaps_interpolated_or_masked_and_reported(tmp_path):
    text = "date,v\n2020-01-01,1\n2020-02-01,\n2020-04-01,7\n2020-05-01,9\n"
    filled = load_csv(write(tmp_path, text), echo=False)
    np.testing.assert_allclose(filled.series[0].values, [1, 3, 5, 7, 9])  # Feb blank, Mar absent
    assert "2 missing value(s)" in filled.warnings[0] and "interpolation" in filled.warnings[0]
    masked = load_csv(write(tmp_path, text, "m.csv"), fill="mask", echo=False)
    assert np.isnan(masked.series[0].values[1:3]).all() and "masked" in masked.warnings[0]


def test_unsorted_rows_are_sorted_with_a_warning(tmp_path):
    data = load_csv(write(tmp_path, "date,v\n2020-03-01,3\n2020-01-01,1\n2020-02-01,2\n"), echo=False)
    np.testing.assert_array_equal(data.series[0].values, [1, 2, 3])
    assert "sorted" in data.warnings[0]


def test_constant_and_negative_series_warn(tmp_path):
    data = load_csv(write(tmp_path, "t,flat,neg\n0,5,1\n1,5,-2\n2,5,3\n"), echo=False)
    text = " ".join(data.warnings)
    assert "'flat': constant" in text and "'neg': negative values" in text


def test_freq_override_and_legacy_alias(tmp_path):
    path = write(tmp_path, "date,v\n2020-01-31,1\n2020-02-29,2\n2020-04-30,4\n")
    assert load_csv(path, freq="M", echo=False).freq == "ME"
    assert len(load_csv(path, freq="ME", echo=False).series[0]) == 4
    assert normalize_freq("H") == "h"


def test_explicit_columns(tmp_path):
    path = write(tmp_path, "when,sales,price,store\n2020-01-01,1,9,0\n2020-01-02,2,8,0\n2020-01-03,3,7,0\n")
    data = load_csv(path, date_col="when", value_col="sales", echo=False)
    assert data.ids == ["sales"] and data.covariate_names == ["price", "store"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("date,v\n", "no data rows"),
        ("date,v\n2020-01-01,1\n2020-02-01,abc\n2020-03-01,3\n", "row 3: 'abc' is not a number"),
        ("date,v\n2020-01-01,1\n2020-01-01,2\n2020-02-01,3\n", "duplicate time stamp 2020-01-01"),
        ("date,v\n2020-01-01,1\nnot a date,2\n", "cannot read 'not a date' as a date"),
        ("date,v\n2020-01-01,\n2020-02-01,\n", "has no values"),
        ("date,v\n2020-01-15,1\n2020-02-01,2\n2020-03-10,3\n", "grid; check --freq"),
        ("series_id,date,a,b\nx,2020-01-01,1,2\n", "needs a value column"),
    ],
)
def test_bad_input_is_one_line_user_error(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_csv(path, echo=False)
    assert message in str(err.value) and str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_csv(tmp_path / "nope.csv")
    path = write(tmp_path, "date,v\n2020-01-01,1\n2020-02-01,2\n")
    with pytest.raises(UserError, match="not a pandas frequency"):
        load_csv(path, freq="fortnightly")
    with pytest.raises(UserError, match="no value column 'sales'"):
        load_csv(path, value_col="sales")
    # rows off the given frequency's grid are averaged into its periods (not an error)
    data = load_csv(write(tmp_path, "date,v\n2020-01-01 00:00,1\n2020-01-02 12:00,2\n2020-01-03 00:00,3\n", "h.csv"),
                    freq="D", echo=False)
    assert data.freq == "D" and list(data.series[0].values) == [1.0, 2.0, 3.0]


def _mixed_frequencies(tmp_path):
    dates = (list(pd.date_range("2018-01-01", periods=12, freq="MS"))
             + list(pd.date_range("2019-01-01", periods=60, freq="D"))
             + list(pd.date_range("2019-04-01", periods=8, freq="QS")))
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"date": dates, "v": np.arange(len(dates)) + 1.0}).to_csv(path, index=False)
    return path


def test_dates_that_change_frequency_are_an_error_naming_series_and_rows(tmp_path):
    path = _mixed_frequencies(tmp_path)       # monthly rows, then daily, then quarterly
    with pytest.raises(UserError) as err:
        load_csv(path, echo=False)
    message = str(err.value)
    assert "series 'v': row 2 (2018-01-01) to row 14 (2019-01-01)" in message
    assert "not one frequency" in message and "--freq" in message and "\n" not in message
    with pytest.raises(UserError, match="row 74 \\(2019-04-01\\) to row 81"):
        load_csv(path, freq="MS", echo=False)     # monthly still leaves the quarterly rows apart


def test_freq_resamples_by_averaging_the_rows_of_each_period(tmp_path, capsys):
    path = _mixed_frequencies(tmp_path)
    data = load_csv(path, freq="QS")
    values = pd.read_csv(path, parse_dates=["date"]).set_index("date")["v"]
    expected = values.resample("QS").mean()
    assert data.freq == "QS-JAN" and np.allclose(data.series[0].values, expected.to_numpy())
    assert "80 rows averaged into 13 QS-JAN periods" in capsys.readouterr().err


def test_scattered_gaps_are_filled_with_their_share_in_the_warning(tmp_path, capsys):
    rng = np.random.default_rng(0)
    dates = pd.date_range("2000-01-01", periods=120, freq="MS")
    keep = rng.random(120) > 0.3
    keep[[0, -1]] = True
    path = tmp_path / "gappy.csv"
    pd.DataFrame({"date": dates[keep], "v": np.arange(keep.sum()) + 1.0}).to_csv(path, index=False)
    data = load_csv(path)
    assert data.freq == "MS" and len(data.series[0]) == 120
    assert f"{120 - keep.sum()} missing value(s) or gap(s) ({(120 - keep.sum()) / 120:.1%} of the points)" \
        in capsys.readouterr().err


def _logger_csv(tmp_path, offsets, values, name="logger.csv", covariate=None):
    """A sensor log: dates at the given offsets (seconds) from 2015-02-04 17:51."""
    dates = pd.Timestamp("2015-02-04 17:51") + pd.to_timedelta(np.asarray(offsets), unit="s")
    frame = pd.DataFrame({"time": dates.strftime("%Y-%m-%d %H:%M:%S"), "co2": values})
    if covariate is not None:
        frame["light"] = covariate
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_a_loggers_clock_jitter_is_snapped_onto_its_grid(tmp_path, capsys):
    # 16-minute readings whose spacings are 15:59, 16:00 or 16:01, with one reading missing
    rng = np.random.default_rng(0)
    spacing = 960 + rng.choice([-1, 0, 1], size=40)
    spacing[20] += 960                                   # a missing reading: a gap of two steps
    offsets = np.concatenate([[0], np.cumsum(spacing)])
    values = np.arange(41, dtype=float) * 10
    path = _logger_csv(tmp_path, offsets, values, covariate=np.arange(41) % 2)
    data = load_csv(path, value_col="co2")
    s = data.series[0]
    assert data.freq == "16min" and len(s) == 42
    expected_time = pd.date_range("2015-02-04 17:51", periods=42, freq="16min")
    assert (s.time == expected_time).all()
    np.testing.assert_allclose(np.delete(s.values, 21), values)                 # each row on its own step
    assert s.values[21] == pytest.approx((values[20] + values[21]) / 2)       # the gap filled
    np.testing.assert_allclose(np.delete(s.covariates[:, 0], 21), np.arange(41) % 2)
    err = capsys.readouterr().err
    assert "dates off the 16min grid by up to" in err and "clock jitter" in err


def test_a_drifting_clock_is_snapped_step_by_step_and_the_drift_reported(tmp_path, capsys):
    # each reading 2-4 s late (3 s on average): about 2.5 minutes by the end
    spacing = 963 + np.resize([-1, 0, 1], 49)
    offsets = np.concatenate([[0], np.cumsum(spacing)])
    data = load_csv(_logger_csv(tmp_path, offsets, np.arange(50.0)))
    assert data.freq == "16min" and len(data.series[0]) == 50
    np.testing.assert_allclose(data.series[0].values, np.arange(50.0))
    assert "by up to 2 min" in capsys.readouterr().err


def test_dates_off_the_grid_by_more_than_jitter_stay_an_error(tmp_path):
    offsets = np.arange(30) * 3600.0
    offsets[10] += 1200                                # one reading 20 minutes off the hour
    with pytest.raises(UserError, match="is off the 40min grid; check --freq"):
        load_csv(_logger_csv(tmp_path, offsets, np.arange(30.0)), echo=False)


def test_trading_days_with_holidays_are_business_days_with_the_holidays_as_gaps(tmp_path, capsys):
    days = pd.bdate_range("2020-01-02", periods=60)
    holidays = [days[11], days[33]]
    kept = days.drop(holidays)
    path = tmp_path / "prices.csv"
    pd.DataFrame({"date": kept.strftime("%Y-%m-%d"), "close": np.arange(len(kept), dtype=float)}).to_csv(path, index=False)
    data = load_csv(path)
    assert data.freq == "B" and len(data.series[0]) == 60 and (data.series[0].time == days).all()
    assert season_for_freq(data.freq) == 5
    assert "2 missing value(s) or gap(s) (3.3% of the points)" in capsys.readouterr().err
    assert future_index(data.series[0], 3, data.freq)[0] == pd.Timestamp("2020-03-26")   # a Thursday after Wednesday
    # one weekend date among them: calendar days, the weekends gaps
    path.write_text(path.read_text() + "2020-03-28,99\n")
    assert load_csv(path, echo=False).freq == "D"


@pytest.mark.parametrize("sep", ["\t", "|", ";"])
def test_tab_bar_and_semicolon_separated_files(tmp_path, sep):
    text = f"date{sep}value\n" + "".join(f"2020-{m:02d}-01{sep}{m}\n" for m in range(1, 13))
    data = load_csv(write(tmp_path, text), echo=False)
    assert data.freq == "MS" and data.series[0].values.tolist() == list(range(1, 13))


def test_day_first_dates_are_read_day_first(tmp_path):
    # 01.02.2020 is the 1st of February: read month first, these would be January 1-12 of
    # each year with gaps of a year between them
    monthly = "date,value\n" + "".join(f"01.{m:02d}.{y},{m}\n" for y in (2019, 2020) for m in range(1, 13))
    data = load_csv(write(tmp_path, monthly), echo=False)
    assert data.freq == "MS" and data.series[0].time[1] == pd.Timestamp("2019-02-01")
    assert data.warnings == []
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    daily = "date,value\n" + "".join(f"{d:%d/%m/%Y},{i}\n" for i, d in enumerate(days))
    data = load_csv(write(tmp_path, daily, "daily.csv"), echo=False)
    assert data.freq == "D" and list(data.series[0].time) == list(days)
    # month first where that is the regular reading (US dates) stays month first
    us = "date,value\n" + "".join(f"{d:%m/%d/%Y},{i}\n" for i, d in enumerate(days))
    assert list(load_csv(write(tmp_path, us, "us.csv"), echo=False).series[0].time) == list(days)


@pytest.mark.parametrize("factor,unit", [(1, "seconds"), (1000, "milliseconds")])
def test_unix_time_stamps_are_dates(tmp_path, capsys, factor, unit):
    hours = pd.date_range("2021-03-01", periods=30, freq="h")
    text = "timestamp,load\n" + "".join(f"{int(t.timestamp()) * factor},{i}\n" for i, t in enumerate(hours))
    data = load_csv(write(tmp_path, text))
    assert data.freq == "h" and list(data.series[0].time) == list(hours)
    assert f"integers read as Unix time in {unit}" in capsys.readouterr().err
    # integer steps stay steps, large ones too
    steps = "t,value\n" + "".join(f"{1000 + i},{i}\n" for i in range(30))
    assert load_csv(write(tmp_path, steps, "steps.csv"), echo=False).freq is None


def test_percentages_are_read_as_numbers_with_a_warning(tmp_path, capsys):
    text = "date,rate\n" + "".join(f"2020-{m:02d}-01,{m}.5%\n" for m in range(1, 13))
    data = load_csv(write(tmp_path, text))
    assert data.series[0].values[:2].tolist() == [1.5, 2.5]
    assert "percentages" in capsys.readouterr().err
    mixed = "date,rate\n" + "".join(f"2020-{m:02d}-01,{m}.5{'%' if m % 2 else ''}\n" for m in range(1, 13))
    with pytest.raises(UserError, match="is not a number"):
        load_csv(write(tmp_path, mixed, "mixed.csv"), echo=False)


@pytest.mark.parametrize("label", ["{y} Q{q}", "Q{q} {y}", "{y}Q{q}", "{y}-Q{q}", "q{q}-{y}"])
def test_quarter_labels_are_quarterly_dates(tmp_path, label):
    rows = [(y, q) for y in (2019, 2020, 2021) for q in (1, 2, 3, 4)]
    text = "quarter,gdp\n" + "".join(f"{label.format(y=y, q=q)},{i}\n" for i, (y, q) in enumerate(rows))
    data = load_csv(write(tmp_path, text), echo=False)
    assert data.freq.startswith("QS") and data.series[0].time[5] == pd.Timestamp("2020-04-01")
    assert data.ids == ["gdp"]


def test_iso_weeks_are_weekly_dates(tmp_path):
    mondays = pd.date_range("2019-12-02", periods=12, freq="W-MON")   # weeks 49 of 2019 to 8 of 2020
    text = "week,visits\n" + "".join(f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d},{i}\n"
                                     for i, d in enumerate(mondays))
    data = load_csv(write(tmp_path, text), echo=False)
    assert data.freq.startswith("W") and list(data.series[0].time) == list(mondays)


def test_integers_written_as_dates_are_dates(tmp_path, capsys):
    days = pd.date_range("2020-02-25", periods=10, freq="D")
    data = load_csv(write(tmp_path, "date,value\n" + "".join(f"{d:%Y%m%d},{i}\n" for i, d in enumerate(days))))
    assert data.freq == "D" and list(data.series[0].time) == list(days)
    months = pd.date_range("2019-11-01", periods=6, freq="MS")
    data = load_csv(write(tmp_path, "date,value\n" + "".join(f"{d:%Y%m},{i}\n" for i, d in enumerate(months)), "m.csv"))
    assert data.freq == "MS" and list(data.series[0].time) == list(months)
    assert "integers read as dates (201911 is 2019-11-01)" in capsys.readouterr().err
    # steps that pass month 12 are steps
    steps = "t,value\n" + "".join(f"{201901 + i},{i}\n" for i in range(14))
    assert load_csv(write(tmp_path, steps, "steps.csv"), echo=False).freq is None


def _store_item_rows(days=10):
    dates = pd.date_range("2021-01-01", periods=days, freq="D")
    return [(store, item, d.date(), 10 * store + i) for store in (1, 2) for item in ("a", "b")
            for i, d in enumerate(dates)]


def test_long_files_without_an_id_column_by_name_find_their_series(tmp_path, capsys):
    rows = _store_item_rows()
    text = "store,item,date,sales\n" + "".join(f"{s},{i},{d},{v}\n" for s, i, d, v in rows)
    data = load_csv(write(tmp_path, text))
    assert data.shape == "long" and data.ids == ["1/a", "1/b", "2/a", "2/b"] and data.freq == "D"
    assert data.covariate_names == [] and data.series[2].values[:2].tolist() == [20, 21]
    assert "a series for each store, item" in capsys.readouterr().err
    # an integer column alone, and the columns given together
    one = "store,date,sales\n" + "".join(f"{s},{d},{v}\n" for s, i, d, v in rows if i == "a")
    assert load_csv(write(tmp_path, one, "one.csv"), echo=False).ids == ["1", "2"]
    given = load_csv(write(tmp_path, text, "given.csv"), id_col="item,store", echo=False)
    assert given.ids == ["a/1", "b/1", "a/2", "b/2"] and not any("repeat" in w for w in given.warnings)


def test_a_few_repeated_dates_stay_an_error_with_a_hint(tmp_path):
    rows = "".join(f"2021-01-{d:02d},{d % 2},{d}\n" for d in range(1, 21)) + "2021-01-05,1,7\n"
    with pytest.raises(UserError, match="duplicate time stamp 2021-01-05; a file of several series names"):
        load_csv(write(tmp_path, "date,promo,sales\n" + rows), echo=False)


def test_spreadsheet_leftovers_are_left_out(tmp_path, capsys):
    months = [f"2020-{m:02d}-01" for m in range(1, 13)]
    # comment lines above the header, trailing separators (empty unnamed columns)
    text = "# exported from ERP\n# EUR\ndate,sales,,\n" + "".join(f"{d},{i},,\n" for i, d in enumerate(months))
    data = load_csv(write(tmp_path, text), echo=False)
    assert data.ids == ["sales"] and data.series[0].values.tolist() == list(range(12))
    assert data.warnings == []
    # pandas' saved index: an unnamed first column numbering the rows
    index = ",date,sales\n" + "".join(f"{i},{d},{i * 2}\n" for i, d in enumerate(months))
    data = load_csv(write(tmp_path, index, "index.csv"))
    assert data.ids == ["sales"] and "numbers the rows (a saved index): left out" in capsys.readouterr().err


@pytest.mark.parametrize("cell,expected", [("${v}.50", 1000.5), ("{v}.50 €", 1000.5), ("-£{v}", -1000.0)])
def test_amounts_with_a_currency_symbol_are_numbers(tmp_path, cell, expected):
    cells = [cell.format(v="1,000" if "$" in cell else "1000")] * 12
    sep = ";" if "€" in cell else ","
    text = f"date{sep}amount\n" + "".join(f'2020-{m:02d}-01{sep}"{c}"\n' for m, c in enumerate(cells, 1))
    assert load_csv(write(tmp_path, text), echo=False).series[0].values[0] == expected


@pytest.mark.parametrize("freq,per_hour", [("h", 1), ("15min", 4)])
def test_local_time_hour_repeated_when_clocks_go_back_is_averaged(tmp_path, capsys, freq, per_hour):
    utc = pd.date_range("2020-10-24 00:00", periods=48 * per_hour, freq=freq, tz="Europe/Berlin")
    local = utc.tz_localize(None)
    values = np.arange(len(local), dtype=float)
    text = "time,load\n" + "".join(f"{t:%Y-%m-%d %H:%M},{v}\n" for t, v in zip(local, values))
    data = load_csv(write(tmp_path, text))
    s = data.series[0]
    assert data.freq == freq and s.time.is_unique and len(s) == len(local) - per_hour
    twice = pd.Timestamp("2020-10-25 02:00")
    first = int(np.flatnonzero(local == twice)[0])
    assert s.values[list(s.time).index(twice)] == (values[first] + values[first + per_hour]) / 2
    assert "comes twice (the clocks going back)" in capsys.readouterr().err
    # a stamp repeated anywhere else is still an error
    rows = text.splitlines()
    with pytest.raises(UserError, match="duplicate time stamp"):
        load_csv(write(tmp_path, "\n".join(rows[:10] + [rows[3]] + rows[10:20]) + "\n", "dup.csv"), echo=False)


def test_utf16_with_a_byte_order_mark_is_read(tmp_path):
    # Excel's "Unicode text": UTF-16, tab-separated
    text = "date\tvalue\n" + "".join(f"2020-{m:02d}-01\t{m}\n" for m in range(1, 13))
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode("utf-16"))
    assert load_csv(path, echo=False).series[0].values.tolist() == list(range(1, 13))


def test_series_keys_with_the_value_column_given_and_free_text_never_a_key(tmp_path):
    rows = _store_item_rows()
    text = "store,item,date,sales,price\n" + "".join(f"{s},{i},{d},{v},{v / 10}\n" for s, i, d, v in rows)
    data = load_csv(write(tmp_path, text), value_col="sales", echo=False)
    assert data.ids == ["1/a", "1/b", "2/a", "2/b"] and data.covariate_names == ["price"]
    # a note on every row tells the rows apart but names no series: no long format (the notes
    # are then a column of the wide file, and no number)
    notes = "date,note,sales\n" + "".join(f"{d},note {k},{v}\n" for k, (s, i, d, v) in enumerate(rows))
    with pytest.raises(UserError, match="'note 0' is not a number"):
        load_csv(write(tmp_path, notes, "notes.csv"), echo=False)


def test_a_date_column_of_any_name_anywhere_is_the_time(tmp_path):
    text = "Umsatz,Datum\n" + "".join(f"{m},2020-{m:02d}-01\n" for m in range(1, 13))
    data = load_csv(write(tmp_path, text), echo=False)
    assert data.freq == "MS" and data.ids == ["Umsatz"]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_csvs_are_read(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    text = "date;value\n" + "".join(f"2020-{m:02d}-01;{m},5\n" for m in range(1, 13))
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes({".gz": gzip, ".bz2": bz2, ".xz": lzma}[suffix].compress(text.encode()))
    data = load_csv(path, echo=False)
    assert data.freq == "MS" and data.series[0].values[:2].tolist() == [1.5, 2.5]


def test_workbooks_and_zip_archives_are_a_clear_error(tmp_path):
    import zipfile

    for name, message in (("sales.xlsx", "a spreadsheet workbook, not a CSV file; save the sheet as CSV"),
                          ("sales.zip", "a zip archive, not a CSV file; unzip it")):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.writestr("inside.csv", "date,value\n2020-01-01,1\n")
        with pytest.raises(UserError, match=message):
            load_csv(tmp_path / name, echo=False)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    with pytest.raises(UserError, match="spreadsheet workbook"):
        load_csv(tmp_path / "old.xls", echo=False)


@pytest.mark.parametrize("yes,no", [("True", "False"), ("yes", "no"), ("Y", "N")])
def test_flag_columns_are_ones_and_zeros(tmp_path, yes, no):
    text = "date,sales,promo\n" + "".join(f"2020-{m:02d}-01,{m},{yes if m % 3 == 0 else no}\n" for m in range(1, 13))
    data = load_csv(write(tmp_path, text), value_col="sales", echo=False)
    assert data.covariate_names == ["promo"]
    assert data.series[0].covariates[:, 0].tolist() == [float(m % 3 == 0) for m in range(1, 13)]
