"""Reading forecasting CSVs: wide or long, dated or integer-stepped, with validation.

Two shapes are accepted::

    wide                                long
    date,sales,returns                  series_id,date,value[,promo]
    2020-01-01,10,1                     a,2020-01-01,10
    2020-02-01,12,2                     a,2020-02-01,12
    ...                                 b,2020-01-01,3 ...

In the wide shape every value column is a series (or, with `value_col`, the named columns are
series and the other numeric columns covariates); in the long shape an id column names the
series, one value column holds the target and other numeric columns are covariates.

Bad input raises `UserError("<file>: <what is wrong>")`; what can be repaired (unsorted rows,
gaps, constant or negative series) is repaired and reported in `ForecastData.warnings`.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import math
import re
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rnnsuite.core import UserError, warn

__all__ = [
    "Series",
    "ForecastData",
    "load_csv",
    "normalize_freq",
    "season_for_freq",
    "horizon_for_freq",
    "future_index",
    "calendar_features",
]

ID_NAMES = ("series_id", "unique_id", "id", "series", "item_id", "sku")
DATE_NAMES = ("date", "ds", "datetime", "timestamp", "time", "month", "period", "week", "day",
              "year", "quarter")
STEP_NAMES = ("t", "step", "time_step", "index", "idx")
VALUE_NAMES = ("value", "y", "target", "sales", "demand")

# Spellings that older pandas accepted and pandas >= 2.2 rejects.
_LEGACY_FREQ = {"M": "ME", "Y": "YE", "A": "YE", "AS": "YS", "Q": "QE", "H": "h", "T": "min",
                "S": "s", "BM": "BME", "BQ": "BQE", "BA": "BYE", "BY": "BYE"}


@dataclass
class Series:
    """One series: its name, time stamps, values (NaN = missing) and optional covariates."""

    id: str
    time: pd.Index  # DatetimeIndex, or an integer Index for integer time steps
    values: np.ndarray  # (n,) float64, NaN where missing
    covariates: np.ndarray | None = None  # (n, C) float64

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class ForecastData:
    """A parsed forecasting file: its series, their common frequency, and what was repaired."""

    path: str
    series: list[Series]
    freq: str | None  # pandas offset alias ("MS", "D", ...); None for integer steps
    step: int = 1  # distance between integer time steps
    covariate_names: list[str] = field(default_factory=list)
    shape: str = "wide"  # "wide" or "long"
    warnings: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.series]

    def warn(self, message: str, echo: bool = True) -> None:
        """Record a repair or a doubt about the data, and show it on stderr."""
        text = f"{self.path}: {message}"
        self.warnings.append(text)
        if echo:
            warn(text)


# ---------------------------------------------------------------------------------------------
# Frequencies
# ---------------------------------------------------------------------------------------------


def normalize_freq(freq: str, path: str = "--freq") -> str:
    """A pandas offset alias for `freq`, accepting legacy spellings (`M`, `H`, `A`...)."""
    from pandas.tseries.frequencies import to_offset

    text = str(freq).strip()
    head, _, tail = text.partition("-")
    if head in _LEGACY_FREQ:
        text = _LEGACY_FREQ[head] + ("-" + tail if tail else "")
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            return to_offset(text).freqstr
    except (ValueError, TypeError):
        raise UserError(f"{path}: {freq!r} is not a pandas frequency (try D, W, MS, QS, YS)") from None


def _freq_kind(freq: str | None) -> str:
    """'year', 'quarter', 'month', 'week', 'day', 'bday', 'hour', 'minute', 'second' or 'step'."""
    if freq is None:
        return "step"
    base = freq.lstrip("0123456789").split("-")[0]
    if base.startswith(("Y", "BY", "A")):
        return "year"
    if base.startswith(("Q", "BQ")):
        return "quarter"
    if base.startswith(("M", "BM", "SM", "CBM")) and base != "min":
        return "month"
    if base.startswith("W"):
        return "week"
    if base in ("B", "C"):
        return "bday"
    if base == "D":
        return "day"
    if base in ("h", "bh", "cbh"):
        return "hour"
    if base == "min":
        return "minute"
    return "second"


_SEASON = {"year": 1, "quarter": 4, "month": 12, "week": 52, "day": 7, "bday": 5, "hour": 24,
           "minute": 60, "second": 60, "step": 1}
# Horizons of the M4 competition where it had one.
_HORIZON = {"year": 6, "quarter": 8, "month": 18, "week": 13, "day": 14, "bday": 10, "hour": 48,
            "minute": 60, "second": 60, "step": 10}


def _multiple(freq: str) -> int:
    """The n of an offset alias such as 30min or 2W-SUN (1 without one)."""
    digits = freq[: len(freq) - len(freq.lstrip("0123456789"))]
    return int(digits) if digits else 1


def _per_cycle(steps: int, n: int) -> int:
    """Steps of n units in a cycle of `steps` units, or 1 where n does not divide it."""
    return steps // n if steps % n == 0 else 1


def season_for_freq(freq: str | None) -> int:
    """The seasonal period of a frequency: 12 for monthly, 7 for daily, 1 for yearly/steps.

    Multiples count the same cycle in their own steps: 30min and 15min data have a daily
    season of 48 and 96 steps, 2h data 12, 3MS (quarters) 4; a multiple that does not divide
    the cycle has none (1). Minute data whose day is over 288 steps (1 to 4 minutes) take the
    hour as their season instead (60 for minutes); second data the hour (30s: 120) or, past
    288 steps, the minute."""
    kind = _freq_kind(freq)
    if kind == "step":
        return 1
    n = _multiple(freq)
    if kind in ("minute", "second"):   # the day (the hour) if not too long, else the hour (minute)
        long = _per_cycle(1440 if kind == "minute" else 3600, n)
        return long if 1 < long <= 288 else _per_cycle(60, n)
    if kind == "month" and freq.lstrip("0123456789").startswith("SM"):
        return _per_cycle(24, n)   # semi-monthly: 24 a year
    return _per_cycle(_SEASON[kind], n) if _SEASON[kind] > 1 else 1


def horizon_for_freq(freq: str | None) -> int:
    """A default horizon for a frequency (the M4 competition's where it had one). A multiple
    covers one season of its own steps where it is finer than a day (30min: 48, a day), else
    the same span of time as one step would (3MS: 6, 18 months)."""
    kind = _freq_kind(freq)
    n = 1 if kind == "step" else _multiple(freq)
    if n == 1:
        return _HORIZON[kind]
    season = season_for_freq(freq)
    if kind in ("hour", "minute", "second") and season > 1:
        return season
    return max(1, round(_HORIZON[kind] / n))


def future_index(series: Series, horizon: int, freq: str | None, step: int = 1) -> pd.Index:
    """The `horizon` time stamps after the end of `series`."""
    last = series.time[-1]
    if freq is None:
        return pd.Index(np.asarray(last + step * np.arange(1, horizon + 1), dtype=np.int64))
    return pd.date_range(start=last, periods=horizon + 1, freq=freq)[1:]


def calendar_features(time: pd.Index, freq: str | None) -> np.ndarray:
    """Cyclic calendar features (sin, cos pairs) for the time stamps. Shape: (n, k), k may be 0.

    Monthly data gets month of year, quarterly quarter of year, weekly week of year, daily day
    of week and day of year, hourly hour of day and day of week; yearly and integer steps none.
    """
    kind = _freq_kind(freq)
    n = len(time)
    if kind in ("year", "step"):
        return np.zeros((n, 0))
    t = pd.DatetimeIndex(time)
    cycles: list[tuple[np.ndarray, float]] = []
    if kind == "month":
        cycles = [(t.month.to_numpy() - 1, 12)]
    elif kind == "quarter":
        cycles = [(t.quarter.to_numpy() - 1, 4)]
    elif kind == "week":
        cycles = [(t.isocalendar().week.to_numpy().astype(float) - 1, 52.18)]
    elif kind in ("day", "bday"):
        cycles = [(t.day_of_week.to_numpy(), 7), (t.day_of_year.to_numpy() - 1, 365.25)]
    else:
        cycles = [(t.hour.to_numpy() + t.minute.to_numpy() / 60, 24), (t.day_of_week.to_numpy(), 7)]
    cols = []
    for value, period in cycles:
        angle = 2 * math.pi * np.asarray(value, dtype=float) / period
        cols += [np.sin(angle), np.cos(angle)]
    return np.stack(cols, axis=1)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _find(columns, names) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _separator(header: str) -> str:
    """The header's separator: a comma, else a tab, semicolon (where the decimal separator is
    a comma) or vertical bar when the header holds one of them and no comma."""
    if "," in header:
        return ","
    return next((sep for sep in ("\t", ";", "|") if sep in header), ",")


_WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a CSV file")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0") or (magic.startswith(b"PK") and path.suffix.lower() in _WORKBOOKS):
        raise UserError(f"{path}: a spreadsheet workbook, not a CSV file; save the sheet as CSV")
    if magic.startswith(b"PK"):
        raise UserError(f"{path}: a zip archive, not a CSV file; unzip it and pass the CSV inside")
    opener = _OPENERS.get(path.suffix.lower(), open)  # compressed: sales.csv.gz
    try:
        with opener(path, "rb") as raw:  # UTF-16 with its byte-order mark: Excel's "Unicode text"
            encoding = "utf-16" if raw.read(2) in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
            raw.seek(0)
            with io.TextIOWrapper(raw, encoding=encoding, errors="replace") as f:
                skip, first = 0, f.readline()
                while first.lstrip().startswith("#"):  # comment lines above the header
                    skip, first = skip + 1, f.readline()
        sep = _separator(first)
        frame = pd.read_csv(path, skipinitialspace=True, sep=sep, skiprows=skip, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: not a readable CSV file ({first})") from None
    if frame.empty or len(frame.columns) == 0:
        raise UserError(f"{path}: the file has a header but no data rows")
    # pandas renames a repeated name ("value", "value.1"): look at the header as written
    header = [c.strip() for c in next(csv.reader([first], delimiter=sep), [])]
    frame.columns = [str(c).strip() for c in frame.columns]
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if len(set(frame.columns)) != len(frame.columns) or repeated:
        raise UserError(f"{path}: duplicate column names" + (f" ({', '.join(repeated)})" if repeated else ""))
    unnamed = [c for k, c in enumerate(frame.columns) if k < len(header) and not header[k]]
    empty = [c for c in unnamed if frame[c].isna().all()]  # a spreadsheet's trailing separators
    rows = frame[unnamed[0]] if unnamed and unnamed[0] == frame.columns[0] else None
    if rows is not None and pd.api.types.is_integer_dtype(rows) and \
            (np.array_equal(rows, np.arange(len(frame))) or np.array_equal(rows, np.arange(1, len(frame) + 1))):
        warn(f"{path}: the first column has no name and numbers the rows (a saved index): left out")
        empty.append(unnamed[0])
    return frame.drop(columns=empty)


# "1,234" or "12,345.6": commas between groups of three digits are thousands separators
_COMMA_THOUSANDS = r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?"
_DOTTED_THOUSANDS = r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?|[-+]?\d+(,\d+)?"


#: Words of a yes/no column (a promotion or holiday flag) and the numbers they stand for.
_FLAGS = {"true": "1", "false": "0", "yes": "1", "no": "0", "y": "1", "n": "0"}


def _filled(text: pd.Series) -> pd.Series:
    """The cells of a text column that hold something."""
    return text[text.notna() & (text != "")]


def _decimal_commas(text: pd.Series) -> bool:
    """Does the column write its decimals with a comma ("3,5", "1234,56")? Yes when a cell
    holds a comma that is not between groups of three digits."""
    with_comma = text[text.str.contains(",", regex=False).fillna(False)]
    return bool(len(with_comma)) and not with_comma.str.fullmatch(_COMMA_THOUSANDS).all()


def _to_numeric(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """The column as float64; a cell that is not empty and not a number is an error."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw):  # booleans too: a flag, 1 or 0
        values = raw.astype("float64")
    else:
        text = raw.astype("string").str.strip()
        filled = _filled(text)
        if len(filled) and filled.str.lower().isin(list(_FLAGS)).all():  # true/false, yes/no: a flag
            text = text.str.lower().map(_FLAGS).astype("string")
            filled = _filled(text)
        for symbol in "$€£¥":  # amounts in one currency: $1,234.50, 12,50 €
            if len(filled) and (filled.str.startswith(symbol) | filled.str.startswith("-" + symbol)
                                | filled.str.endswith(symbol)).all():
                text = text.str.replace(symbol, "", regex=False).str.strip()
                break
        if _decimal_commas(text):
            if text.str.contains(".", regex=False).fillna(False).any() and \
                    not text.str.fullmatch(_DOTTED_THOUSANDS).fillna(True).all():
                row = int(np.flatnonzero(text.str.contains(".", regex=False).fillna(False).to_numpy())[0])
                raise UserError(f"{path}: column {column!r} mixes decimal commas and decimal points "
                                f"(row {row + 2}: {raw.iloc[row]!r}); use one")
            warn(f"{path}: column {column!r}: numbers with a decimal comma (e.g. "
                 f"{text[text.str.contains(',', regex=False).fillna(False)].iloc[0]!r}) read as "
                 "decimal numbers")
            text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        filled = _filled(text)
        if len(filled) and filled.str.endswith("%").all():
            warn(f"{path}: column {column!r}: percentages (e.g. {filled.iloc[0]!r}) read as numbers of percent")
            text = text.str.removesuffix("%").str.strip()
        values = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        bad = values.isna() & text.notna() & (text != "") & ~text.str.lower().isin(["na", "nan", "null", "none", "?", "-"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(f"{path}: column {column!r}, row {row + 2}: {raw.iloc[row]!r} is not a number")
        values = values.astype("float64")
    infinite = np.isinf(values.to_numpy())
    if infinite.any():  # "inf" parses as a number, and would poison every training step
        row = int(np.flatnonzero(infinite)[0])
        raise UserError(f"{path}: column {column!r}, row {row + 2}: {str(raw.iloc[row]).strip()!r} is not a finite number")
    return values


def _parse_time(frame: pd.DataFrame, column: str, path: Path) -> tuple[pd.Series, bool]:
    """Parse the time column. Returns (times, is_datetime)."""
    raw = frame[column]
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0])
        raise UserError(f"{path}: column {column!r}, row {row + 2}: missing date")
    if pd.api.types.is_integer_dtype(raw) or (
        pd.api.types.is_float_dtype(raw) and np.all(np.mod(raw.to_numpy(), 1) == 0)
    ):
        ints = raw.astype("int64")
        if str(column).lower() == "year" and ints.between(1000, 3000).all():
            return pd.to_datetime(ints.astype(str) + "-01-01"), True
        compact = _compact_dates(ints)
        if compact is not None:
            warn(f"{path}: column {column!r}: integers read as dates ({ints.iloc[0]} is "
                 f"{compact.iloc[0]:%Y-%m-%d})")
            return compact, True
        unit = _unix_unit(ints)
        if unit:
            warn(f"{path}: column {column!r}: integers read as Unix time in "
                 f"{'seconds' if unit == 's' else 'milliseconds'} ({ints.iloc[0]} is "
                 f"{pd.to_datetime(ints.iloc[0], unit=unit)})")
            return pd.to_datetime(ints, unit=unit), True
        return ints, False
    if pd.api.types.is_numeric_dtype(raw):
        raise UserError(f"{path}: column {column!r} holds fractional numbers, not dates or integer steps")
    text = raw.astype(str).str.strip()
    labelled = _period_labels(text)
    if labelled is not None:
        return labelled, True
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            times = pd.to_datetime(text, format="mixed")
            if not text.iloc[0][:4].isdigit():  # not year first: maybe day first (31.01.2020)
                try:
                    dayfirst = pd.to_datetime(text, format="mixed", dayfirst=True)
                except (ValueError, TypeError, OverflowError):
                    dayfirst = None
                if dayfirst is not None and _implied_missing(dayfirst) < _implied_missing(times):
                    times = dayfirst
    except (ValueError, TypeError, OverflowError):
        # Find the first cell that fails, for the message.
        for row, cell in enumerate(text):
            try:
                pd.to_datetime(cell)
            except (ValueError, TypeError, OverflowError):
                raise UserError(f"{path}: column {column!r}, row {row + 2}: cannot read {cell!r} as a date") from None
        raise UserError(f"{path}: column {column!r}: cannot read the dates") from None
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_localize(None)
    return times, True


#: Integers in these ranges are Unix time (1979-2096) in seconds / milliseconds, not steps.
_UNIX_SECONDS = (3e8, 4e9)


def _unix_unit(ints: pd.Series) -> str | None:
    """'s' or 'ms' where every value is a Unix time stamp in that unit (from 1979 to 2096, at
    least a minute apart), else None: integer steps."""
    for unit, factor in (("s", 1), ("ms", 1000)):
        low, high = (bound * factor for bound in _UNIX_SECONDS)
        if len(ints) > 1 and ints.between(low, high).all() and \
                np.diff(np.unique(ints.to_numpy())).min(initial=60 * factor) >= 60 * factor:
            return unit
    return None


def _implied_missing(times: pd.Series) -> float:
    """How many points a reading of the dates leaves missing: the span over the typical
    (median) spacing, less the points there are; repeated dates count as missing too. The
    reading with fewer is the right one (day first or month first)."""
    index = pd.DatetimeIndex(times)
    stamps = np.sort((index.tz_convert(None) if index.tz is not None else index).asi8)
    unique = np.unique(stamps)
    if len(unique) < 3:
        return float(len(stamps) - len(unique))
    spacing = float(np.median(np.diff(unique)))
    return (unique[-1] - unique[0]) / spacing - (len(unique) - 1) + (len(stamps) - len(unique))


_QUARTER = re.compile(r"(\d{4})\s*[-/ ]?\s*[Qq]([1-4])|[Qq]([1-4])\s*[-/ ]?\s*(\d{4})")
_ISO_WEEK = re.compile(r"(\d{4})-?W(\d{2})")


def _period_labels(text: pd.Series) -> pd.Series | None:
    """Quarter labels ("2020 Q1", "Q1 2020", "2020Q1") and ISO weeks ("2020-W05") as the dates
    their periods start on; None when the column holds anything else."""
    quarters = text.str.fullmatch(_QUARTER.pattern)
    if len(text) and quarters.all():
        parts = text.str.extract(_QUARTER.pattern)
        year = parts[0].fillna(parts[3]).astype(int)
        quarter = parts[1].fillna(parts[2]).astype(int)
        return pd.to_datetime(pd.DataFrame({"year": year, "month": 3 * quarter - 2, "day": 1}))
    weeks = text.str.fullmatch(_ISO_WEEK.pattern)
    if len(text) and weeks.all():
        parts = text.str.extract(_ISO_WEEK.pattern).astype(int)
        try:
            return pd.Series([pd.Timestamp.fromisocalendar(y, w, 1) for y, w in zip(parts[0], parts[1])],
                             index=text.index)
        except ValueError:
            return None
    return None


def _compact_dates(ints: pd.Series) -> pd.Series | None:
    """Integers written as dates, YYYYMMDD (20200131) or YYYYMM (202001), each a valid date from
    1900 to 2100; None otherwise (integer steps)."""
    for digits, fmt in ((8, "%Y%m%d"), (6, "%Y%m")):
        low, high = 19 * 10 ** (digits - 2), 21 * 10 ** (digits - 2)
        if len(ints) > 1 and ints.between(low, high).all():
            times = pd.to_datetime(ints.astype(str), format=fmt, errors="coerce")
            if times.notna().all():
                return times
    return None


def _looks_like_dates(raw: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(raw):
        return False
    sample = raw.dropna().astype(str).head(20)
    if sample.empty:
        return False
    if _period_labels(sample.str.strip()) is not None:
        return True
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            pd.to_datetime(sample, format="mixed")
        return True
    except (ValueError, TypeError, OverflowError):
        return False


def _infer_freq(times: list[pd.DatetimeIndex], path: Path) -> str:
    """The frequency shared by the series: pandas' inference, else the typical spacing (daily
    dates that never fall on a weekend: business days)."""
    from pandas.tseries.frequencies import to_offset

    longest = max(times, key=len)
    if len(longest) < 2:
        raise UserError(f"{path}: cannot infer the frequency from a single date; pass --freq")
    if len(longest) >= 3:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            found = pd.infer_freq(longest)
        if found is not None:
            return to_offset(found).freqstr
    # Gaps defeat pd.infer_freq: take the smallest spacing and name it.
    days = np.diff(longest.values.astype("datetime64[s]").astype(np.int64)) / 86400.0
    step = float(np.min(days[days > 0]))
    if step < 1:
        seconds = round(step * 86400)
        # A logger's clock jitters (15:59, 16:01, ... apart): the typical spacing, in whole
        # minutes where it is a minute or more, when the smallest is within SNAP_TOLERANCE of it
        # (_regularise then snaps the dates onto that grid)
        typical = float(np.median(days[days > 0])) * 86400
        unit = 60 if typical >= 60 else 1
        rounded = max(unit, round(typical / unit) * unit)
        if rounded != seconds and abs(seconds - rounded) <= SNAP_TOLERANCE * rounded:
            seconds = rounded
        return to_offset(pd.Timedelta(seconds=seconds)).freqstr
    if step < 1.5:
        # trading days (markets closed at weekends and on holidays): business days, holidays gaps
        weekdays = bool(np.all(longest.dayofweek < 5) and np.all(longest == longest.normalize()))
        return "B" if weekdays and (longest[-1] - longest[0]).days >= 14 else "D"
    if 6.5 <= step <= 7.5:
        return "W-" + longest[0].day_name()[:3].upper()
    month_start = bool(np.all(longest.day == 1))
    month_end = bool(np.all(longest.is_month_end))
    if 27 <= step <= 31.5:
        return "MS" if month_start else "ME" if month_end else _irregular(path)
    if 89 <= step <= 92.5:
        return ("QS-" if month_start else "QE-") + _month_code(longest[0].month)
    if 364 <= step <= 366.5:
        return "YS-" + _month_code(longest[0].month) if month_start else "YE-" + _month_code(longest[0].month)
    if abs(step - round(step)) < 1e-9:
        return f"{int(round(step))}D"
    return _irregular(path)


def _month_code(month: int) -> str:
    return ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"][month - 1]


def _irregular(path) -> str:
    raise UserError(f"{path}: the dates are not evenly spaced and no frequency could be inferred; pass --freq")


def load_csv(
    path,
    date_col: str | None = None,
    value_col: str | None = None,
    id_col: str | None = None,
    freq: str | None = None,
    fill: str = "interpolate",
    echo: bool = True,
) -> ForecastData:
    """Read a wide or long forecasting CSV. See the module docstring.

    Args:
        path: the CSV file.
        date_col: the time column (dates or integer steps); inferred when None.
        value_col: the target column(s), comma-separated; inferred when None.
        id_col: the series-id column; given or found by name, the file is read as long.
        freq: a pandas frequency alias overriding the inferred one.
        fill: "interpolate" fills interior gaps linearly; "mask" leaves them NaN (masked out
            of the loss and the inputs).
        echo: print warnings on stderr as well as recording them.
    Returns:
        ForecastData with one Series per series, on a regular time grid.
    """
    path = Path(path)
    if fill not in ("interpolate", "mask"):
        raise UserError(f"--fill: {fill!r} must be 'interpolate' or 'mask'")
    frame = _read_frame(path)
    data = ForecastData(path=str(path), series=[], freq=None)
    parts = []  # several columns that name a series together
    if id_col is not None and "," in id_col:
        parts = [_named(frame, c.strip(), "id", path) for c in id_col.split(",")]
        id_col = _joined_id(frame, parts)
    roles = _column_roles(frame, path, date_col, value_col, id_col, parts)
    if roles.id_col is None and roles.date_col is not None:
        keys = _series_keys(frame, roles.date_col, roles.values if value_col else [])
        if keys:  # long format without an id column named as such: store, item, date, sales
            data.warn(f"dates repeat: read as long format, a series for each {', '.join(keys)}", echo)
            roles = _column_roles(frame, path, roles.date_col, value_col, _joined_id(frame, keys), keys)
    if roles.id_col is not None:
        data.shape = "long"
    numeric = {c: _to_numeric(frame, c, path) for c in roles.values + roles.covariates}
    data.covariate_names = list(roles.covariates)
    if roles.date_col is None:
        times, dated = pd.Series(np.arange(len(frame)), index=frame.index), False
        if roles.id_col is not None:
            times = frame.groupby(roles.id_col, sort=False).cumcount()
    else:
        times, dated = _parse_time(frame, roles.date_col, path)
    raw_series = _split_series(frame, roles, numeric, times, dated, path, data, echo)
    _choose_grid(data, raw_series, dated, freq, path)
    _regularise(data, raw_series, dated, freq, fill, path, times, frame, roles.id_col, echo)
    return data


@dataclass
class _Roles:
    """Which column is what."""

    id_col: str | None
    date_col: str | None
    values: list
    covariates: list


def _named(frame, name: str, what: str, path: Path) -> str:
    """The frame's column called `name` (case and spaces aside), else a UserError."""
    if name not in frame.columns:
        match = _find(frame.columns, (name.lower(),))
        if match is None:
            raise UserError(f"{path}: no {what} column {name!r} (columns: {', '.join(frame.columns)})")
        return match
    return name


def _joined_id(frame, columns: list) -> str:
    """One id column from several (store 1 and item a: "1/a"), added to the frame; the name of
    the single one as it is."""
    if len(columns) == 1:
        return columns[0]
    name = "/".join(columns)
    frame[name] = frame[columns].astype(str).agg("/".join, axis=1)
    return name


def _series_keys(frame, date_col: str, values: list) -> list | None:
    """The columns that tell apart the series of a long file whose id column has no known
    name, where the dates repeat (on a tenth of the rows or more): its text columns, then as
    many of its integer columns (in order) as make each (key, date) pair unique, with two rows
    or more a key on average; None where the dates do not repeat or no such columns do. The
    value columns given (`values`) are never keys."""
    dates = frame[date_col].astype(str).str.strip()
    if dates.duplicated().mean() < 0.1:  # a few repeated rows are an error (_split_series)
        return None
    rest = [c for c in frame.columns if c != date_col and c not in values]
    text = [c for c in rest if not pd.api.types.is_numeric_dtype(frame[c])
            and pd.to_numeric(frame[c].astype(str).str.replace(",", ".", regex=False), errors="coerce").isna().mean() > 0.5]
    integers = [c for c in rest if pd.api.types.is_integer_dtype(frame[c]) and frame[c].nunique() <= len(frame) // 2]
    keys = list(text)
    for extra in [None, *integers]:
        if extra is not None:
            keys.append(extra)
        if keys and len(keys) < len(rest) + len(values) and len(frame[keys].drop_duplicates()) <= len(frame) // 2 \
                and not pd.concat([frame[keys], dates], axis=1).duplicated().any():
            return [c for c in rest if c in keys]
    return None


def _column_roles(frame, path: Path, date_col, value_col, id_col, id_parts=()) -> _Roles:
    """Which column is what; `id_parts`: the columns a joined id column was made of
    (_joined_id), neither values nor covariates."""
    def column(name: str, what: str) -> str:
        return _named(frame, name, what, path)

    if id_col is not None:
        id_col = column(id_col, "id")
    else:
        id_col = _find(frame.columns, ID_NAMES)
    if date_col is not None:
        date_col = column(date_col, "date")
    else:
        date_col = _find(frame.columns, DATE_NAMES) or _find(frame.columns, STEP_NAMES)
        if date_col is None:  # the first column of dates, whatever its name (Datum, fecha)
            date_col = next((c for c in frame.columns if c != id_col and _looks_like_dates(frame[c])), None)
    values = [column(v.strip(), "value") for v in value_col.split(",")] if value_col else None
    rest = [c for c in frame.columns if c not in (id_col, date_col, *id_parts)]
    if id_col is not None:
        if values is None:
            found = _find(rest, VALUE_NAMES)
            numeric = [c for c in rest if pd.api.types.is_numeric_dtype(frame[c])]
            if found is None and len(rest) == 1:
                found = rest[0]
            if found is None and len(numeric) == 1:
                found = numeric[0]
            if found is None:
                raise UserError(f"{path}: long format needs a value column; name it 'value' or pass --value-col")
            values = [found]
        if len(values) != 1:
            raise UserError(f"{path}: long format takes one value column, got {', '.join(values)}")
    elif values is None:
        values = rest
    if not values:
        raise UserError(f"{path}: no value columns")
    covariates = [c for c in rest if c not in values]
    if value_col is None and id_col is None:
        covariates = []  # wide without --value-col: every column is a series
    return _Roles(id_col, date_col, values, covariates)


def _split_series(frame, roles: _Roles, numeric: dict, times, dated: bool, path: Path,
                  data: ForecastData, echo: bool) -> list:
    """[(id, values indexed by time, covariates or None)], each in time order."""
    id_col, values, covariates = roles.id_col, roles.values, roles.covariates
    pieces: list[tuple[str, pd.Series, pd.DataFrame | None]] = []
    if id_col is not None:
        if frame[id_col].isna().any():
            row = int(np.flatnonzero(frame[id_col].isna().to_numpy())[0])
            raise UserError(f"{path}: column {id_col!r}, row {row + 2}: missing series id")
        for sid, index in frame.groupby(id_col, sort=False).groups.items():
            cov = pd.DataFrame({c: numeric[c][index] for c in covariates}) if covariates else None
            pieces.append((str(sid), numeric[values[0]][index].set_axis(times[index]),
                           cov.set_axis(times[index]) if cov is not None else None))
    else:
        cov = pd.DataFrame({c: numeric[c] for c in covariates}).set_axis(times) if covariates else None
        for v in values:
            pieces.append((str(v), numeric[v].set_axis(times), cov))

    raw_series = []
    unsorted, repeated = [], []
    for sid, s, cov in pieces:
        if s.index.has_duplicates and dated and _clock_change(s.index):
            repeated.append(_stamp(s.index[s.index.duplicated()][0]))
            s = s.groupby(level=0, sort=False).mean()
            cov = cov.groupby(level=0, sort=False).mean() if cov is not None else None
        if s.index.has_duplicates:
            dup = s.index[s.index.duplicated()][0]
            stamp = _stamp(dup) if dated else dup
            hint = "" if id_col is not None else "; a file of several series names their column with --id-col"
            raise UserError(f"{path}: series {sid!r} has duplicate time stamp {stamp}{hint}")
        if not s.index.is_monotonic_increasing:
            unsorted.append(sid)
            order = np.argsort(s.index.to_numpy(), kind="stable")
            s = s.iloc[order]
            cov = cov.iloc[order] if cov is not None else None
        raw_series.append((sid, s, cov))
    if unsorted:
        data.warn(f"rows were not in time order for {_names(unsorted)}; sorted them", echo)
    if repeated:
        data.warn(f"the hour from {repeated[0]} comes twice (the clocks going back): the rows of each "
                  "repeated time stamp were averaged", echo)
    return raw_series


def _clock_change(index: pd.Index) -> bool:
    """Are a sub-daily series' repeated time stamps local time's hour that happens twice when
    the clocks go back? In file order the stamps then run forward one step at a time except
    for a jump back by an hour less one step (02:45 -> 02:00 at 15 minutes, 02:00 -> 02:00
    hourly), at most about twice a year."""
    ns = pd.DatetimeIndex(index).asi8
    steps = np.diff(ns)
    forward = steps[steps > 0]
    hour = pd.Timedelta(hours=1).value
    if not len(forward):
        return False
    step = int(np.median(forward))
    back = steps[steps <= 0]
    years = (ns.max() - ns.min()) / pd.Timedelta(days=365).value
    return bool(step <= hour and hour % step == 0 and len(back) <= 2 * math.ceil(years + 1e-9)
                and np.all(back == step - hour))


def _choose_grid(data: ForecastData, raw_series: list, dated: bool, freq, path: Path) -> None:
    """data.freq (dates: given or inferred) or data.step (integer steps: their common divisor)."""
    if dated:
        data.freq = normalize_freq(freq) if freq else _infer_freq([pd.DatetimeIndex(s.index) for _, s, _ in raw_series], path)
    elif freq:
        raise UserError(f"{path}: --freq needs a date column, but the time column holds integer steps")
    else:
        diffs = np.concatenate([np.diff(s.index.to_numpy()) for _, s, _ in raw_series if len(s) > 1] or [np.array([1])])
        data.step = int(np.gcd.reduce(diffs.astype(np.int64))) or 1


def _regularise(data: ForecastData, raw_series: list, dated: bool, freq, fill: str, path: Path,
                times, frame, id_col, echo: bool) -> None:
    """Every series onto the regular grid (data.series), gaps filled or masked; one warning
    per kind of repair."""
    gaps, constant, negative, averaged, jitter = {}, [], [], {}, {}
    grids = {}   # (first, last) -> the date grid: series of one span share it (100,000 series)
    for sid, s, cov in raw_series:
        valid = np.flatnonzero(s.notna().to_numpy())
        if len(valid) == 0:
            raise UserError(f"{path}: series {sid!r} has no values")
        # Leading and trailing blanks are where a wide file's series start late or end early.
        s = s.iloc[valid[0] : valid[-1] + 1]
        cov = cov.iloc[valid[0] : valid[-1] + 1] if cov is not None else None
        if dated:
            span = (s.index[0], s.index[-1])
            grid = grids.get(span)
            if grid is None:
                grid = grids[span] = pd.date_range(*span, freq=data.freq)
            off_grid = ~pd.DatetimeIndex(s.index).isin(grid)
            snapped = _snap(s.index, data.freq) if off_grid.any() and not freq else None
            if snapped is not None:
                # timing jitter: each row onto its step of the grid, a step the mean of its rows
                index, shift = snapped
                jitter[sid] = max(jitter.get(sid, 0.0), shift)
                s = s.groupby(index).mean()
                cov = cov.groupby(index).mean() if cov is not None else None
                grid = pd.date_range(s.index[0], s.index[-1], freq=data.freq)
            elif off_grid.any() and not freq:
                bad = _stamp(s.index[off_grid][0])
                raise UserError(f"{path}: series {sid!r}: date {bad} is off the {data.freq} grid; check "
                                "--freq (given, it averages the rows of each period)")
            elif off_grid.any():
                # --freq given: resample, each period the mean of its rows
                rows = len(s)
                s = s.resample(data.freq).mean()
                cov = cov.resample(data.freq).mean() if cov is not None else None
                grid = s.index
                averaged[sid] = (rows, int(s.notna().sum()))
            _check_one_frequency(path, sid, s, grid, data.freq, times, frame, id_col)
        else:
            grid = pd.Index(np.arange(s.index[0], s.index[-1] + 1, data.step, dtype=np.int64))
        s = s.reindex(grid)
        cov = cov.reindex(grid) if cov is not None else None
        missing = int(s.isna().sum())
        if missing:
            gaps[sid] = missing
            if fill == "interpolate":
                s = s.interpolate(method="linear", limit_area="inside")
        if cov is not None:
            cov = cov.interpolate(limit_direction="both").fillna(0.0)
        arr = s.to_numpy(dtype=np.float64)
        finite = arr[~np.isnan(arr)]
        if len(finite) > 1 and np.all(finite == finite[0]):
            constant.append(sid)
        if np.any(finite < 0):
            negative.append(sid)
        data.series.append(Series(sid, grid, arr, None if cov is None else cov.to_numpy(np.float64)))
    if jitter:
        data.warn(f"{_names(list(jitter))}: dates off the {data.freq} grid by up to "
                  f"{_duration(max(jitter.values()))} (clock jitter); each moved to its nearest step", echo)
    if averaged:
        rows, periods = (sum(v[i] for v in averaged.values()) for i in (0, 1))
        data.warn(f"{_names(list(averaged))}: {rows} rows averaged into {periods} {data.freq} periods (--freq)", echo)
    if gaps:
        total = sum(gaps.values())
        points = sum(len(x) for x in data.series)
        how = "filled by linear interpolation" if fill == "interpolate" else "left missing and masked out of the loss"
        data.warn(f"{total} missing value(s) or gap(s) ({total / points:.1%} of the points) in "
                  f"{_names(list(gaps))}; {how}", echo)
    if constant:
        data.warn(f"{_names(constant)}: constant; forecast as that constant with zero-width intervals", echo)
    if negative:
        data.warn(f"{_names(negative)}: negative values; the log transform is off for this file", echo)


#: Dates within this share of a step of the frequency's grid are snapped onto it (`_snap`).
SNAP_TOLERANCE = 0.1


def _snap(times, freq: str):
    """Dates that stray from a fixed-length frequency's grid by jitter only (each spacing within
    SNAP_TOLERANCE of a whole number of steps): (the dates counted in whole steps from the
    first, which is rounded to the minute or second the step is a multiple of; the largest move,
    in seconds). None for other dates or calendar frequencies (months, weeks)."""
    from pandas.tseries.frequencies import to_offset

    try:
        step = pd.Timedelta(to_offset(freq))
    except (ValueError, TypeError):
        return None
    t = pd.DatetimeIndex(times)
    if len(t) < 2 or step <= pd.Timedelta(0):
        return None
    ratio = np.diff(t.asi8) / step.value
    steps = np.round(ratio)
    if np.abs(ratio - steps).max() > SNAP_TOLERANCE:
        return None
    unit = "min" if step % pd.Timedelta(minutes=1) == pd.Timedelta(0) else "s"
    k = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    index = pd.DatetimeIndex(t[0].round(unit) + k * step)
    return index, float(np.abs((index - t).total_seconds()).max())


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# A series is "not one frequency" (an error) when REGIME_RUN intervals in a row between its rows
# each span two periods or more: a stretch recorded at a coarser spacing, not gaps in one
# spacing, which would be filled with mostly invented points.
REGIME_RUN = 5


def _check_one_frequency(path, sid, s, grid, freq, times, frame, id_col) -> None:
    present = np.flatnonzero(s.reindex(grid).notna().to_numpy()) if len(s) else np.array([], int)
    steps = np.diff(present)
    coarse = np.concatenate([[0], (steps >= 2).astype(int), [0]])
    starts, ends = np.flatnonzero(np.diff(coarse) == 1), np.flatnonzero(np.diff(coarse) == -1)
    long_runs = [(a, b) for a, b in zip(starts, ends) if b - a >= REGIME_RUN]
    if not long_runs:
        return
    first, last = long_runs[0]

    def row_of(when) -> str:
        match = (times == when).to_numpy()
        if id_col is not None:
            match &= (frame[id_col].astype(str) == sid).to_numpy()
        return f"row {int(np.flatnonzero(match)[0]) + 2} ({_stamp(when)})" if match.any() else _stamp(when)

    typical = int(np.median(steps[first:last]))
    elsewhere = "the file's frequency" if first == 0 and last == len(steps) else "elsewhere closer"
    raise UserError(f"{path}: series {sid!r}: {row_of(grid[present[first]])} to "
                    f"{row_of(grid[present[last]])} are about {typical} periods of {freq} apart, "
                    f"{elsewhere}: not one frequency; resample with --freq (a coarser one, "
                    "e.g. the spacing of those rows; rows within a period are averaged)")


def _stamp(when) -> str:
    """A time stamp as a user wrote it: the date alone when the time is midnight."""
    return when.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")


def _names(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return "series " + shown + more
