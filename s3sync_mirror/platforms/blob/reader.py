"""The small downloads of a BlobConnection's batches on obstore (``obloop``): each a GET
with ``If-Match`` on the ETag the sync read, hashed as it comes, thousands in one event loop
run instead of a Python thread per blob through azure-core's pipeline.

The store takes what the connection's service client already resolved: its account URL
(Azurite's, with the account in the path, works as is), and its credential: the account
key of a connection string, a SAS token, or a token credential (``DefaultAzureCredential``)
whose tokens it asks for. Any other credential: ``make`` gives None and the connection keeps
its own path. Failures go through the one table, ``bloberrors.classify``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from ..obloop import CLIENT_OPTIONS, LoopClient, answer, available, plain_http, retry_config
from ..parts import quoted
from .errors import classify

SCOPE = "https://storage.azure.com/.default"


def _azure_tokens(credential):
    """obstore's credential provider: bearer tokens of an azure-identity ``credential``."""
    def provider() -> dict:
        token = credential.get_token(SCOPE)
        return {"token": token.token,
                "expires_at": datetime.fromtimestamp(token.expires_on, tz=timezone.utc)}
    return provider


def make(conn) -> Optional["BlobReader"]:
    """The reader of ``conn`` (a BlobConnection), or None where obstore cannot stand in."""
    if not available():
        return None
    from obstore.store import AzureStore

    service = conn.service
    url, _, sas = service.url.partition("?")
    credential = service.credential
    options = {**CLIENT_OPTIONS, **plain_http(url)}
    config = {"account_name": service.account_name, "endpoint": url.rstrip("/")}
    provider = None
    if getattr(credential, "account_key", None):
        config["access_key"] = credential.account_key
    elif sas:
        config["sas_key"] = sas
    elif hasattr(credential, "get_token"):
        provider = _azure_tokens(credential)
    else:
        return None
    store = AzureStore(conn.container, config=config, client_options=options,
                       credential_provider=provider, retry_config=retry_config(conn.retries))
    return BlobReader(store, conn)


class BlobReader(LoopClient):
    name = "blob-obstore"

    def __init__(self, store, conn):
        super().__init__()
        self.store, self.container, self.where = store, conn.container, conn.where

    def throttled(self, status: int, code: str) -> bool:
        return status in (429, 503)

    def failure(self, exc, method, conditional, what):
        status, code, message = answer(exc)
        if code == "ConnectionError":
            code = "ServiceRequestError"  # as azure-core names no answer: the same message
        return classify(status, code, conditional=conditional, what=what,
                        container=self.container, where=self.where, message=message)

    async def get_async(self, full: str, dest, *, if_match: Optional[str], transfer,
                        label: str, fetched: bool = True):
        """GET ``full`` (while its ETag is ``if_match``, when given) into ``dest``."""
        import obstore

        options = {"if_match": quoted(if_match)} if if_match else None
        return await self.fetch(lambda: obstore.get_async(self.store, full, options=options),
                                dest, transfer=transfer, what=label,
                                conditional=if_match is not None, fetched=fetched)
