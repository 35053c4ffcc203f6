"""API keys: `Authorization: Bearer <key>`, looked up by SHA-256 and compared in constant time.

The configuration holds only hashes. A missing, unknown, disabled or expired key is answered 401
before anything else happens (no provider is touched), and the message never repeats the key.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from routeledger.config import RouteledgerConfig
from routeledger.guardrails import KEY_HASH_PREFIX
from routeledger.router.api.errors import GatewayError
from routeledger.router.api.principal import ANONYMOUS, Principal

#: Longest Authorization header considered; anything longer is not a key (and not worth hashing).
MAX_AUTHORIZATION = 512


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(
        401, message, "invalid_request_error", "invalid_api_key", headers={"www-authenticate": "Bearer"}
    )


class Authenticator:
    def __init__(self, config: RouteledgerConfig) -> None:
        self.required = (
            config.guardrails.auth_required if config.guardrails.auth_required is not None else bool(config.keys)
        )
        self.by_digest = {
            bytes.fromhex(key.hash.removeprefix(KEY_HASH_PREFIX)): (name, key) for name, key in config.keys.items()
        }

    def authenticate(self, authorization: str | None) -> Principal:
        if not self.required:
            return ANONYMOUS
        if not authorization or len(authorization) > MAX_AUTHORIZATION:
            raise _unauthorized("Missing API key: send Authorization: Bearer <key>.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("Malformed Authorization header: expected Bearer <key>.")
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = self.by_digest.get(digest)
        # The dict lookup finds the candidate; the constant-time compare decides.
        if found is None or not hmac.compare_digest(digest, bytes.fromhex(found[1].hash.removeprefix(KEY_HASH_PREFIX))):
            raise _unauthorized("Invalid API key.")
        name, key = found
        if key.disabled:
            raise _unauthorized("This API key is disabled.")
        if key.expires_at is not None and datetime.now(UTC) >= key.expires_at.astimezone(UTC):
            raise _unauthorized("This API key has expired.")
        return Principal(name, key.tenant, key.routes, key.classes, key.rpm, key.budget)
