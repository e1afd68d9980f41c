"""Who is calling: an Authorization header (Basic or Bearer) checked against scrypt hashes.

scrypt costs tens of milliseconds and 16 MiB by design, so results are remembered per header
for `cache_seconds` (keyed by an HMAC of the header, never the header itself), concurrent checks
of one header share one computation, few checks run at once and few may wait (beyond that the
caller is told to retry: 429). Every uncached check costs one scrypt: Basic finds its user by
name, Bearer by the token's lookup id (`passwords.TokenHash`), and an unknown name or token is
checked against a decoy, so timing does not reveal which users or tokens exist.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections import OrderedDict

from aiohttp import BasicAuth

from gateway.auth.config import AuthConfig
from gateway.auth.passwords import ScryptHash, hash_secret, lookup_id
from gateway.auth.users import User
from gateway.errors import Busy

log = logging.getLogger(__name__)

_CACHE_ENTRIES = 4096
_CONCURRENT_CHECKS = 2
# Uncached checks running or queued; each waits for a scrypt, so a longer queue only adds delay.
MAX_PENDING_CHECKS = 64


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self.realm = config.realm
        self.enforce_on_passthrough = config.enforce_on_passthrough
        self.users = {user.name: User.from_config(user) for user in config.users}
        self._by_lookup: dict[str, list[User]] = {}
        self._unindexed: list[User] = []  # token hashes in the older format, without a lookup id
        for user in self.users.values():
            if user.token is None:
                continue
            if user.token.lookup is None:
                self._unindexed.append(user)
            else:
                self._by_lookup.setdefault(user.token.lookup, []).append(user)
        if self._unindexed:
            log.warning(
                "token hashes of %s have no lookup id: every unknown Bearer token costs one "
                "scrypt per such user; hash them again: `artifact-gateway hash-password --token`",
                ", ".join(sorted(user.name for user in self._unindexed)),
            )
        self._decoy = ScryptHash.parse(hash_secret(os.urandom(16).hex()))
        self._ttl = config.cache_seconds
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, tuple[float, User | None]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[User | None]] = {}
        self._checks = asyncio.Semaphore(_CONCURRENT_CHECKS)

    async def identify(self, authorization: str) -> User | None:
        """The user these credentials belong to, or None; `Busy` when too many checks wait."""
        key = hmac.digest(self._key, authorization.encode("utf-8", "surrogateescape"), "sha256")
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            self._cache.move_to_end(key)
            return cached[1]
        task = self._pending.get(key)
        if task is None:  # one check per header, owned by no request, so none can cancel it
            if len(self._pending) >= MAX_PENDING_CHECKS:
                raise Busy("Too many credential checks are waiting; retry in a moment")
            task = asyncio.ensure_future(self._verified(key, authorization))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _verified(self, key: bytes, authorization: str) -> User | None:
        async with self._checks:
            user = await asyncio.to_thread(self._check, authorization)
        self._remember(key, user)
        return user

    def _remember(self, key: bytes, user: User | None) -> None:
        if self._ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + self._ttl, user)
        while len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)

    def _check(self, authorization: str) -> User | None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                credentials = BasicAuth.decode(authorization.strip(), encoding="utf-8")
            except ValueError:
                return None
            user = self.users.get(credentials.login)
            hashed = user.password if user is not None else None
            matched = (hashed or self._decoy).matches(credentials.password)
            return user if matched and hashed is not None else None
        if scheme.lower() == "bearer" and (token := value.strip()):
            return self._token_user(token)
        return None

    def _token_user(self, token: str) -> User | None:
        """One scrypt when every token hash has a lookup id (the decoy's when none matches)."""
        candidates = [*self._by_lookup.get(lookup_id(token), ()), *self._unindexed]
        if not candidates:
            self._decoy.matches(token)
            return None
        # All candidates are checked, not the first match only: the cost does not say which.
        found = [user for user in candidates if user.token and user.token.matches(token)]
        return found[0] if found else None
