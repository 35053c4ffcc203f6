"""The frame around every page: config, access gate, store, sidebar, navigation, error boundary.

Streamlit runs the entry script (`dashboards/app.py`) top to bottom on every interaction; `main`
is that run. Whatever goes wrong on the way (bad config, store unreachable, bad filter values, a
query the store refuses) ends as a message on the page, never as a traceback.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import streamlit as st

from routeledger.analytics.jobs import AnalyticsInputError, Filters, Window
from routeledger.config import CLICKHOUSE_URL_ENV, CONFIG_ENV, DEFAULT_CONFIG_PATH, RouteledgerConfig, load_config
from routeledger.dashboards.data import Ledger, source_name
from routeledger.dashboards.filters import (
    FILTER_FIELDS,
    WINDOW_LABELS,
    WINDOWS,
    Known,
    Selection,
    describe,
    parse_selection,
)
from routeledger.dashboards.page import Page, View
from routeledger.dashboards.views import pages
from routeledger.errors import ConfigError, QueryError, RouteledgerError, StoreError, StoreUnavailable
from routeledger.store import AttemptStore, open_reader
from routeledger.store.base import running_service_url

log = logging.getLogger("routeledger.dashboard")

TITLE = "routeledger FinOps"


def ceil_time(now: datetime, step_s: float) -> datetime:
    """`now` rounded up to a multiple of `step_s`: windows, and so cache keys, hold still for a TTL
    while still covering everything written up to now."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(math.ceil(epoch / step_s) * step_s, UTC)


@st.cache_resource(show_spinner=False)
def _open_store(source: str, _config: RouteledgerConfig) -> AttemptStore:
    """One store handle per source for the whole server (all sessions share it)."""
    return open_reader(_config)


def _source(config: RouteledgerConfig, environ: Mapping[str, str]) -> str:
    url = environ.get(CLICKHOUSE_URL_ENV)
    if url:
        parts = urlsplit(url)
        url = f"{parts.hostname}:{parts.port}"  # never the credentials
    return source_name(config, url, None if url else running_service_url(config))


def _gate(config: RouteledgerConfig, environ: Mapping[str, str]) -> bool:
    """True when the viewer may see the ledger: no password configured, or the right one given."""
    secret = config.dashboard.password(environ)
    if secret is None or st.session_state.get("authenticated"):
        return True
    st.title(TITLE)
    with st.form("login"):
        given = st.text_input("Password or access token", type="password")
        submitted = st.form_submit_button("Open dashboard")
    if submitted:
        if hmac.compare_digest(given.encode(), secret.encode()):
            st.session_state["authenticated"] = True
            st.rerun()
        st.error("Wrong password or token.")
    return False


def _sidebar(config: RouteledgerConfig, known: Known, now: datetime) -> tuple[Page, Selection, bool]:
    """Page choice, time range and filters; initial values come from the URL so links can be shared."""
    params = st.query_params
    all_pages = pages()
    slugs = [p.slug for p in all_pages]
    problems: list[str] = []
    wanted = params.get("page", "overview")
    if wanted not in slugs:
        problems.append(f"Unknown page {wanted!r}; showing the overview.")
        wanted = "overview"
    bar = st.sidebar
    bar.title(TITLE)
    slug = bar.radio(
        "Page",
        slugs,
        index=slugs.index(wanted),
        format_func=lambda s: next(p.title for p in all_pages if p.slug == s),
        key="page",
    )
    choices = [*WINDOWS, "custom"]
    default = config.dashboard.default_window
    if default not in choices:
        choices.insert(0, default)
    url_window = params.get("window", default)
    window_key = bar.selectbox(
        "Time range",
        choices,
        index=choices.index(url_window) if url_window in choices else choices.index(default),
        format_func=lambda k: WINDOW_LABELS.get(k, f"Last {k}"),
        key="window",
    )
    values: dict[str, list[str]] = {
        "window": [url_window if url_window not in choices else window_key],
    }
    custom: tuple[date, date] | None = None
    if window_key == "custom":
        picked = bar.date_input("Dates (UTC)", value=(now.date() - timedelta(days=7), now.date()), key="dates")
        if isinstance(picked, tuple) and len(picked) == 2:
            custom = (picked[0], picked[1])
    for name in FILTER_FIELDS:
        from_url = [v for raw in params.get_all(name) for v in raw.split(",") if v]
        options = known.options(name)
        chosen = bar.multiselect(
            name.capitalize(), options, default=[v for v in from_url if v in options], key=f"f_{name}"
        )
        values[name] = [*chosen, *(v for v in from_url if v not in options)]
    refresh = bar.toggle(f"Auto-refresh every {config.dashboard.refresh_s} s", key="auto_refresh")
    selection = parse_selection(values, known, now, default, custom)
    _sync_url(slug, selection)
    if problems:
        selection = Selection(
            selection.window, selection.filters, selection.window_key, (*problems, *selection.problems)
        )
    page = next(p for p in all_pages if p.slug == slug)
    return page, selection, refresh


def _sync_url(slug: str, selection: Selection) -> None:
    """Keep the URL in step with the sidebar so the address bar is a shareable link."""
    wanted: dict[str, str | list[str]] = {"page": slug, "window": selection.window_key}
    for name, attr in FILTER_FIELDS.items():
        chosen = getattr(selection.filters, attr)
        if chosen:
            wanted[name] = list(chosen)
    if "request" in st.query_params and slug == "explorer":
        wanted["request"] = st.query_params["request"]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    normalised = {k: v if isinstance(v, list) else [v] for k, v in wanted.items()}
    if current != normalised:
        st.query_params.from_dict(wanted)


def render_page(page: Page, view: View) -> None:
    """The error boundary: one page's failure is a message, and the rest of the app still works."""
    st.header(page.title)
    st.caption(describe(view.selection))
    for problem in view.selection.problems:
        st.warning(problem)
    try:
        page.render(view)
    except AnalyticsInputError as exc:
        st.error(f"That selection cannot be shown: {exc}")
    except StoreUnavailable as exc:
        st.error(f"The ledger store cannot be reached: {exc}. Is the collector (or ClickHouse) running?")
    except (QueryError, StoreError) as exc:
        st.error(f"The ledger store refused the query: {exc}")
    except RouteledgerError as exc:
        st.error(str(exc))
    except Exception as exc:
        log.exception("dashboard page %s failed", page.slug)
        st.error(f"This page failed ({type(exc).__name__}: {exc}). The details are in the dashboard's log.")


def main(now: datetime | None = None, environ: Mapping[str, str] | None = None) -> None:
    """One run of the app. `now` and `environ` are for tests; by default the clock and os.environ."""
    env = os.environ if environ is None else environ
    st.set_page_config(page_title=TITLE, layout="wide")
    path = env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        st.error(f"The configuration cannot be loaded: {exc}")
        return
    if not _gate(config, env):
        return
    ttl = config.dashboard.cache_ttl_s
    clock = ceil_time(now or datetime.now(UTC), ttl)
    source = _source(config, env)
    try:
        store = _open_store(source, config)
    except RouteledgerError as exc:
        st.sidebar.title(TITLE)
        st.error(f"The ledger store cannot be reached: {exc}. Is the collector (or ClickHouse) running?")
        return
    ledger = Ledger(store, source, ttl)
    page, selection, refresh = _sidebar(config, Known.from_config(config, _seen_tenants(ledger, clock)), clock)
    st.sidebar.caption(f"Data: {source} · cached {ttl:g} s")
    if not refresh:
        render_page(page, View(ledger=ledger, selection=selection, config=config, now=clock))
        return

    @st.fragment(run_every=timedelta(seconds=config.dashboard.refresh_s))
    def live() -> None:
        # Each tick moves the clock (and so the windows) forward; the cache TTL bounds the scans.
        tick = ceil_time(now or datetime.now(UTC), ttl)
        moved = Selection(_shift(selection, tick, clock), selection.filters, selection.window_key, selection.problems)
        render_page(page, View(ledger=ledger, selection=moved, config=config, now=tick))

    live()


def _shift(selection: Selection, tick: datetime, clock: datetime) -> Window:
    """The selection's window moved forward with the clock (a fixed custom range stays put)."""
    if selection.window_key in ("all", "custom"):
        return selection.window
    delta = tick - clock
    return Window(selection.window.since + delta, selection.window.until + delta)


def _seen_tenants(ledger: Ledger, now: datetime) -> list[str]:
    """Tenants with spend this month, so the filter offers them even when the config names none."""
    try:
        return [str(t) for t in ledger.spend_by_tenant(now, Filters()).column("name").to_pylist()]
    except RouteledgerError:
        return []  # the page itself will say what is wrong with the store
