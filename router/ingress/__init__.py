"""The HTTP surface: the OpenAI-compatible app, API-key authentication, and the lifespan's upkeep.

The top room of the router: it may import every other room; none imports it.
"""
