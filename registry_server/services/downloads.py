"""Download counts, aggregated in memory and flushed to the database every few seconds.

Counting on every envelope fetch with an UPDATE would turn the registry's hottest read into a
write (and serialise it on SQLite). Counts are kept per process and added to the rows in one short
transaction per flush, which is safe with several processes because each adds its own increments.
A process killed without a final flush loses at most one interval of counts.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import Engine, text

from registry_server.db.session import translate_database_errors


class DownloadCounter:
    """Thread-safe pending increments: version id -> count, cube id -> count."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._versions: Counter[int] = Counter()
        self._cubes: Counter[int] = Counter()

    def add(self, version_id: int, cube_id: int) -> None:
        """Count one download of a version."""
        with self._lock:
            self._versions[version_id] += 1
            self._cubes[cube_id] += 1

    def flush(self) -> None:
        """Write pending increments; on failure they are kept for the next flush."""
        with self._lock:
            versions, self._versions = self._versions, Counter()
            cubes, self._cubes = self._cubes, Counter()
        if not versions:
            return
        try:
            with translate_database_errors(), self._engine.begin() as connection:
                connection.execute(
                    text("UPDATE cube_version SET downloads = downloads + :n WHERE id = :id"),
                    [{"id": key, "n": count} for key, count in sorted(versions.items())],
                )
                connection.execute(
                    text("UPDATE cube SET downloads = downloads + :n WHERE id = :id"),
                    [{"id": key, "n": count} for key, count in sorted(cubes.items())],
                )
        except BaseException:
            with self._lock:
                self._versions.update(versions)
                self._cubes.update(cubes)
            raise
