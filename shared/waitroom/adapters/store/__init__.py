"""The process store: one repository, a backend per database chosen by the URL's scheme."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import quote, urlsplit

from waitroom.adapters.secrets import read_secret
from waitroom.adapters.store.base import DatabaseUrl, Dialect, FixedUrl, SqlStore
from waitroom.domain.errors import ConfigurationError
from waitroom.settings import Settings

__all__ = ["BACKENDS", "DatabaseUrl", "SecretUrl", "SqlStore", "database_url", "dialect_for", "open_store"]

#: Each backend's module in this package and the URL schemes that name it. A module is imported only
#: when its scheme is used, so an execution environment loads the one database driver it needs.
BACKENDS: dict[str, tuple[str, ...]] = {
    "sqlite": ("sqlite",),
    "postgres": ("postgresql", "postgres"),
    "mssql": ("mssql", "sqlserver"),
}

#: RDS secret ``engine`` values → URL schemes.
_SECRET_ENGINES = {
    "sqlserver": "mssql",
    "sqlserver-ex": "mssql",
    "sqlserver-se": "mssql",
    "sqlserver-ee": "mssql",
    "sqlserver-web": "mssql",
    "postgres": "postgresql",
    "aurora-postgresql": "postgresql",
}


def database_url(settings: Settings) -> DatabaseUrl:
    """Where the store's URL comes from: ``DB_SECRET_ARN`` when set, else the settings."""
    if settings.db_secret_arn:
        return SecretUrl(settings.db_secret_arn, host=settings.db_host, port=settings.db_port, dbname=settings.db_name)
    return FixedUrl(settings.resolved_database_url())


class SecretUrl:
    """The URL of an RDS-style JSON secret, read through Powertools (cached for five minutes).

    A connection is opened with the value of that moment, so a rotated password reaches the next
    connection; after a failed login the store calls :meth:`refresh` and tries once more, since the
    password may have been rotated within the cache's five minutes.

    A secret RDS manages for a master user (``ManageMasterUserPassword``) holds only ``username`` and
    ``password``: the server and the database then come from ``DB_HOST``, ``DB_PORT`` and
    ``DB_NAME`` (``host``, ``dbname`` in the secret win).
    """

    def __init__(
        self, arn: str, *, host: str | None = None, port: int | None = None, dbname: str | None = None
    ) -> None:
        self.arn = arn
        self.host, self.port, self.dbname = host, port, dbname
        self._force_fetch = False

    def __call__(self) -> str:
        secret: Any = read_secret(self.arn, transform="json", refresh=self._force_fetch)
        self._force_fetch = False
        try:
            scheme = _SECRET_ENGINES.get(str(secret.get("engine", "sqlserver")), "mssql")
            port = secret.get("port") or self.port or (1433 if scheme == "mssql" else 5432)
            user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
            name = secret.get("dbname") or self.dbname or secret.get("dbInstanceIdentifier") or ""
            host = secret.get("host") or self.host
        except (KeyError, AttributeError, TypeError):
            raise ConfigurationError("DB_SECRET_ARN: the secret must be JSON with username and password") from None
        if not host:
            raise ConfigurationError(
                "DB_SECRET_ARN: the secret names no host (an RDS-managed master secret holds only the "
                "credentials): set DB_HOST and DB_NAME (template parameters DatabaseHost, DatabaseName)"
            )
        return f"{scheme}://{user}:{password}@{host}:{port}/{quote(str(name), safe='')}"

    def refresh(self) -> bool:
        self._force_fetch = True
        return True


def dialect_for(source: str | DatabaseUrl, settings: Settings) -> Dialect:
    """The dialect of a database URL (or of a source that gives one at each connect)."""
    url_source = FixedUrl(source) if isinstance(source, str) else source
    scheme = urlsplit(url_source()).scheme.lower()
    for module_name, schemes in BACKENDS.items():
        if scheme in schemes:
            module = importlib.import_module(f"{__name__}.{module_name}")
            dialect: type[Dialect] = module.DIALECT
            return dialect.from_url(url_source, settings)
    raise ConfigurationError(
        f"DATABASE_URL: unknown scheme {scheme!r}; use sqlite:///path, mssql://... or postgresql://..."
    )


def open_store(settings: Settings) -> SqlStore:
    """A store on the configured database. It connects lazily, on first use."""
    return SqlStore(dialect_for(database_url(settings), settings))
