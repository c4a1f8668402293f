"""Yahoo Finance through yfinance, in bulk: one ``yf.download`` per chunk of tickers.

``yf.download`` does not raise for a failed ticker, rate limiting included: it logs the error
and returns an all-NaN column for it. So a ticker whose Close is all NaN (or missing) is
retried, with exponential backoff and jitter, as are exceptions raised by the call; requests
are paced to stay under a rate (tickers per second: yfinance makes one request per ticker).
After the last attempt the ticker is reported ``unknown`` / ``delisted`` (from yfinance's own
message) or ``failed``, and the others are kept.

A provider that cannot be reached is not a symbol that does not exist: yfinance reports both
the same way (a per-ticker "possibly delisted; no timezone found", or the network error). So
before the first request, and again whenever every ticker of an attempt comes back empty, the
provider checks that Yahoo answers at all (``reach``: one request, bounded by ``timeout``);
when it does not, :class:`ProviderUnreachable` is raised at once: no retries, no backoff, and
no symbol is marked.

Corporate actions come with the prices (``actions=True``: the 'Dividends' and 'Stock Splits'
columns, as ``Ticker.dividends`` / ``Ticker.splits`` give them). With ``auto_adjust=False``
Yahoo's ``Close`` and its dividends are adjusted for every split after their date (``Adj
Close`` for dividends too); foliodb stores as-traded values (docs/semantics.md,
"Activities"), so each close and dividend is multiplied back by the ratios of the splits
after its date in the downloaded history. The history runs to the last closed session, so
it holds every split Yahoo has adjusted for unless a split took effect after that session
(a fetch on a split's ex-date before its close). ``Adj Close`` is kept as given.

The network call is injectable (``download=``) so tests hand in frames shaped like
``yf.download``'s: columns MultiIndex (Price, Ticker), index the union of the tickers' dates.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import logging
import math
import os
import random
import re
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from foliodb.errors import FolioError
from ingest.providers import (
    ACTION_COLUMNS,
    FRAME_COLUMNS,
    Failure,
    Fetched,
    Request,
    empty_actions,
    empty_frame,
)

# download(tickers, start, end_exclusive, threads) -> a frame shaped like yf.download's
DownloadFn = Callable[[list[str], dt.date, dt.date, int], pd.DataFrame]
# reach(timeout_seconds) -> None when Yahoo answers; raises OSError (or any error) when not
ReachFn = Callable[[float], None]

YAHOO_HOST = "query2.finance.yahoo.com"
# seconds each request to Yahoo may take (FOLIO_YF_TIMEOUT, `folio ingest prices --timeout`)
DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "FOLIO_YF_TIMEOUT"
# what a network failure looks like in yfinance's per-ticker messages and in exceptions
NETWORK_ERROR = re.compile(
    r"could not resolve host|dnserror|name or service not known|temporary failure in name"
    r"|failed to connect|connection (refused|reset|aborted|error)|network is unreachable"
    r"|timed out|timeout|curl: \((6|7|28|35|56)\)|max retries exceeded|no route to host",
    re.I,
)


class ProviderUnreachable(FolioError):
    """The price provider could not be reached at all (network, DNS, firewall)."""


def default_timeout() -> float:
    """FOLIO_YF_TIMEOUT (seconds) when set to a positive number, else DEFAULT_TIMEOUT."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError as exc:
        raise FolioError(f"{TIMEOUT_ENV}={text!r}: expected a number of seconds") from exc
    if not math.isfinite(value) or value <= 0:
        raise FolioError(f"{TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return value


PRICE_FIELDS = {"Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits"}
LOG_LINE = re.compile(r"^\[(?P<tickers>[^\]]*)\]: (?P<message>.*)$", re.S)


class _ErrorCapture(logging.Handler):
    """Collects yfinance's per-ticker error lines: "['XYZ']: possibly delisted; …"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = LOG_LINE.match(record.getMessage())
        if not match:
            return
        try:
            tickers = ast.literal_eval(f"[{match['tickers']}]")
        except (ValueError, SyntaxError):
            return
        for ticker in tickers:
            self.errors[str(ticker).upper()] = match["message"].strip()


def reach_yahoo(timeout: float) -> None:
    """Does Yahoo Finance answer? One HTTPS request (any HTTP status counts as an answer).

    Uses curl_cffi, yfinance's own HTTP client, so proxies configured for yfinance apply.
    Raises when the host cannot be resolved or connected to within ``timeout`` seconds.
    """
    from curl_cffi import requests as curl_requests

    curl_requests.head(f"https://{YAHOO_HOST}/", timeout=timeout, allow_redirects=False)


def yf_download(
    tickers: list[str],
    start: dt.date,
    end: dt.date,
    threads: int,
    timeout: float = DEFAULT_TIMEOUT,
) -> pd.DataFrame:
    """The network: one bulk request. Per-ticker error messages land in ``frame.attrs``."""
    import yfinance as yf

    logger = logging.getLogger("yfinance")
    capture = _ErrorCapture()
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False  # keep yfinance's lines off the terminal; we report them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # yfinance 1.7 on pandas 3
            frame = yf.download(
                tickers,
                start=start.isoformat(),
                end=end.isoformat(),  # exclusive
                interval="1d",
                group_by="column",
                auto_adjust=False,  # both Close (split-adjusted) and Adj Close (also dividends)
                actions=True,  # the 'Dividends' and 'Stock Splits' columns
                threads=max(1, threads),
                progress=False,
                multi_level_index=True,
                timeout=timeout,
            )
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate
    if frame is None:
        frame = pd.DataFrame()
    frame.attrs["errors"] = capture.errors
    return frame


def classify(reason: str) -> str:
    """The market.symbols status a final failure reason means."""
    text = reason.lower()
    if "rate limit" in text or "too many requests" in text:
        return "failed"
    if "no timezone found" in text or "quote not found" in text or "symbol not found" in text:
        return "unknown"
    if "delisted" in text:
        return "delisted"
    return "failed"


def frame_by_ticker(frame: pd.DataFrame | None, tickers: list[str]) -> dict[str, pd.DataFrame]:
    """Split a yf.download frame into one long frame per ticker with a non-NaN close.

    Accepts (Price, Ticker) and (Ticker, Price) MultiIndex columns, and single-level columns
    for a lone ticker (``multi_level_index=False``). Rows whose Close is NaN are padding from
    the union index (or Yahoo's gaps) and are dropped. The close and the dividend (columns
    ``close``, ``dividend``) are as traded: Yahoo's split-adjusted values times the ratios of
    the splits after their date; ``split`` is the day's split ratio (0 or NaN: none).
    """
    if frame is None or frame.empty or len(frame.columns) == 0:
        return {}
    columns = frame.columns
    if not isinstance(columns, pd.MultiIndex):
        if len(tickers) != 1:
            return {}
        frame = frame.copy()
        frame.columns = pd.MultiIndex.from_product([list(columns), [tickers[0]]])
        columns = frame.columns
    levels = [set(map(str, columns.get_level_values(i))) for i in range(columns.nlevels)]
    price_level = next((i for i, values in enumerate(levels) if values & PRICE_FIELDS), 0)
    ticker_level = 1 - price_level if columns.nlevels == 2 else columns.nlevels - 1
    dates = pd.DatetimeIndex(frame.index)
    wanted = {t.upper(): t for t in tickers}
    out: dict[str, pd.DataFrame] = {}
    for raw in dict.fromkeys(columns.get_level_values(ticker_level)):
        symbol = wanted.get(str(raw).upper())
        if symbol is None:
            continue
        sub = frame.xs(raw, axis=1, level=ticker_level)
        if "Close" not in sub:
            continue

        def column(name: str, sub: pd.DataFrame = sub) -> np.ndarray:
            if name in sub:
                return pd.to_numeric(sub[name], errors="coerce").to_numpy(dtype="float64")
            return np.full(len(sub), np.nan)

        splits = column("Stock Splits")
        ratios = np.where(np.isfinite(splits) & (splits > 0), splits, 1.0)
        # the product of the ratios of the splits after each row (Yahoo adjusted for them)
        later = np.append(np.cumprod(ratios[::-1])[::-1][1:], 1.0)
        long = pd.DataFrame(
            {
                "symbol": symbol,
                "price_date": dates.date,
                "close": column("Close") * later,
                "adj_close": column("Adj Close"),
                "volume": column("Volume"),
                "dividend": column("Dividends") * later,
                "split": splits,
            }
        )
        long = long[long["close"].notna()]
        if len(long):
            out[symbol] = long.reset_index(drop=True)
    return out


class Pacer:
    """Spaces calls so that, over time, at most ``rate`` units (tickers) go out per second."""

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.next_at: float | None = None

    def wait(self, cost: float) -> None:
        if not self.rate or self.rate <= 0:
            return
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + cost / self.rate


class YahooProvider:
    """Bulk yfinance fetches with pacing, bounded threads and retries."""

    source = "yfinance"

    def __init__(
        self,
        download: DownloadFn | None = None,
        *,
        threads: int = 2,
        rate: float | None = 2.0,
        max_attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        timeout: float | None = None,
        reach: ReachFn | None = None,
    ) -> None:
        """``timeout``: seconds per request to Yahoo (the real download and ``reach``);
        None: :func:`default_timeout`.

        ``reach`` checks that the provider answers; by default :func:`reach_yahoo` when the
        download is the real one, and no check for an injected download (tests hand in
        their own ``reach`` to simulate a network that is down).
        """
        self.timeout = timeout if timeout is not None else default_timeout()
        if download is None:
            download = functools.partial(yf_download, timeout=self.timeout)
            reach = reach or reach_yahoo
        self.download = download
        self.reach = reach
        self.reached = False  # Yahoo answered once during this provider's life
        self.threads = threads
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.pacer = Pacer(rate, clock, sleep)
        self.attempts = 0  # download calls made, for reports and tests

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt`` (1-based retries): base·2^(n-1) plus jitter."""
        return self.backoff * 2 ** (attempt - 1) + self.rng.uniform(0, self.backoff)

    def check_reachable(self, seen: str | None = None) -> None:
        """Raise :class:`ProviderUnreachable` when Yahoo does not answer (see the module doc).

        ``seen`` is the network error that made us ask again, if any (it may have been
        transient: only ``reach`` decides). Without ``reach``, nothing is checked.
        """
        if self.reach is None:
            return
        if self.reached and seen is None:
            return
        try:
            self.reach(self.timeout)
        except Exception as exc:  # DNS, connect, TLS, timeout: all mean "not reachable"
            cause = f"{type(exc).__name__}: {exc}"
            if seen and seen not in cause:
                cause += f"; the download said: {seen}"
            raise self._unreachable(cause) from exc
        self.reached = True

    def _unreachable(self, cause: str) -> ProviderUnreachable:
        return ProviderUnreachable(
            f"cannot reach Yahoo Finance ({YAHOO_HOST}; timeout {self.timeout:g} s):"
            f" {cause[:300].rstrip('. ')}. No symbol was marked. Check the network (or proxy), raise"
            " --timeout, or load prices with --source csv FILE or --source demo"
        )

    def fetch(self, requests: list[Request]) -> Fetched:
        if not requests:
            return Fetched()
        by_symbol = {r.symbol: r for r in requests}
        start = min(r.start for r in requests)
        end = max(r.end for r in requests) + dt.timedelta(days=1)  # yf's end is exclusive
        pending = list(by_symbol)
        reasons: dict[str, str] = {}
        got: list[pd.DataFrame] = []
        self.check_reachable()
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.delay(attempt))
            self.pacer.wait(len(pending))
            self.attempts += 1
            try:
                frame = self.download(pending, start, end, min(self.threads, len(pending)))
            except Exception as exc:  # network, HTTP, parsing: all worth another try
                reason = f"{type(exc).__name__}: {exc}"
                reasons.update({s: reason for s in pending})
                if isinstance(exc, OSError) or NETWORK_ERROR.search(reason):
                    self.check_reachable(reason)  # it answered before: does it still?
                continue
            errors = frame.attrs.get("errors", {}) if frame is not None else {}
            found = frame_by_ticker(frame, pending)
            network = [m for m in errors.values() if NETWORK_ERROR.search(m)]
            if not found and network:
                # every ticker empty and yfinance saw network errors: does Yahoo still answer?
                self.check_reachable(network[0])
            for symbol, long in found.items():
                req = by_symbol[symbol]
                dates = long["price_date"]
                got.append(long[(dates >= req.start) & (dates <= req.end)])
            pending = [s for s in pending if s not in found]
            for symbol in pending:
                reasons[symbol] = errors.get(symbol.upper(), "no data returned (Close all NaN)")
            if not pending:
                break
        failures = {
            s: Failure(
                s, classify(reasons[s]), f"{reasons[s]} (after {self.max_attempts} attempts)"
            )
            for s in pending
        }
        if not got:
            return Fetched(empty_frame(), failures)
        frame = pd.concat(got, ignore_index=True)
        return Fetched(frame[FRAME_COLUMNS], failures, actions_of(frame))


def actions_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The splits and dividends of long frames (frame_by_ticker's), one row each."""
    parts = []
    for action, column in (("split", "split"), ("dividend", "dividend")):
        rows = frame[frame[column] > 0]  # NaN compares false: no action
        parts.append(
            pd.DataFrame(
                {
                    "symbol": rows["symbol"],
                    "ex_date": rows["price_date"],
                    "action": action,
                    "value": rows[column].astype("float64"),
                }
            )
        )
    actions = pd.concat(parts, ignore_index=True)
    return actions[ACTION_COLUMNS] if len(actions) else empty_actions()
