"""Scratch databases on the machine's real PostgreSQL and MariaDB servers, for department systems and
Airflow's metadata DB in tests (trust auth / root without password, as on every machine here)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306"
# Dialects by SQLAlchemy name; MariaDB answers to "mysql" too.
SERVERS = {"postgresql": POSTGRES, "mariadb": MARIADB, "mysql": MARIADB}


class ScratchDatabases:
    """Uniquely named databases, each dropped by :meth:`drop_all` (``sqlite`` ones are files)."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.created: list[tuple[str, str]] = []

    def url(self, dialect: str, purpose: str = "t") -> str:
        """The URL of a new, empty database of ``dialect`` (postgresql, mariadb/mysql or sqlite)."""
        name = f"ci_{purpose}_{uuid.uuid4().hex[:8]}"
        if dialect == "sqlite":
            return f"sqlite:///{self.tmp_path / (name + '.db')}"
        self._admin(dialect, f'CREATE DATABASE "{name}"' if dialect == "postgresql" else f"CREATE DATABASE `{name}`")
        self.created.append((dialect, name))
        return f"{SERVERS[dialect]}/{name}"

    def drop_all(self) -> None:
        for dialect, name in reversed(self.created):
            self._admin(dialect, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if dialect == "postgresql"
                        else f"DROP DATABASE IF EXISTS `{name}`")
        self.created.clear()

    @staticmethod
    def _admin(dialect: str, statement: str) -> None:
        maintenance = "postgres" if dialect == "postgresql" else ""
        admin = sa.create_engine(f"{SERVERS[dialect]}/{maintenance}", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(statement)
        finally:
            admin.dispose()
