"""rnnsuite.plugins.forecast: global recurrent forecasting of CSV time series.

`rnnsuite forecast predict sales.csv` fits a model on the file's history and prints a forecast
with 80% and 95% intervals; `train` / `evaluate` give run folders and rolling-origin backtests
against the naive and seasonal-naive baselines. Kept light: pandas and torch load on use.
"""

from rnnsuite.core import hookimpl

__all__ = ["rnnsuite_register_domains"]


@hookimpl
def rnnsuite_register_domains(register):
    from rnnsuite.plugins.forecast.domain import ForecastDomain

    register(ForecastDomain())
