"""The client-facing contract every room speaks: the request schema the gateway accepts, the errors
it answers with (OpenAI's shape), and what the router knows about one request while it runs.

The bottom room of the router: it imports no other room.
"""
