"""Talking to providers: adapters for each wire format, the HTTP client, stream decoding and
relaying, the classification of what came back, and the outcome value of one attempt.

Imports only `api`.
"""
