"""routeledger dashboards: Streamlit pages over the analytics functions (no SQL of their own)."""
