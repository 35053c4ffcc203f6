"""Recording attempts: one span per upstream attempt, the OTLP wire encoding, the lean exporter,
the attempt journal and the export spool that keep them through crashes and collector outages.

Imports `upstream` (the outcome it records) and `api`; never `policy` or `ingress`.
"""
