"""Streamlit entry script: `streamlit run dashboards/app.py` (or `routeledger dashboard`).

The configuration file comes from ROUTELEDGER_CONFIG (default `routeledger.yaml`); the store is the
one `open_reader` picks: ROUTELEDGER_CLICKHOUSE_URL, else the running collector, else chDB.
"""

from routeledger.dashboards.shell import main

main()
