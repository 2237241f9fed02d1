"""``did you mean NS/NAME?``: the nearest existing cube names for a name that does not exist.

On the registry, the candidates are what its search API returns for the name's namespace and
for its words (two bounded requests, only after a not-found); locally, the installed cubes.
Suggestions are a courtesy: when they cannot be had, the not-found error stands as it was.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from memos_client.errors import MemosError, NotFoundError

#: How alike (``difflib`` ratio, 0 to 1) a name must be to be suggested (the marketplace's).
CUTOFF = 0.6
#: ``namespace/name`` as it may appear in a message (validated before use).
_NAME = re.compile(r"(?<![\w./:-])[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9]")


def nearest(wanted: str, names: Iterable[str]) -> str | None:
    """The existing name most like ``wanted`` (never ``wanted`` itself), or ``None``."""
    by_lower = {name.lower(): name for name in names if name.lower() != wanted.lower()}
    close = difflib.get_close_matches(wanted.lower(), list(by_lower), n=1, cutoff=CUTOFF)
    return by_lower[close[0]] if close else None


def with_suggestion(error: NotFoundError, wanted: str, names: Iterable[str]) -> NotFoundError:
    """``error`` with ``; did you mean NAME?`` appended when a name is close to ``wanted``."""
    match = nearest(wanted, names)
    if match is None:
        return error
    suggested = type(error)(f"{error}; did you mean {match}?")
    suggested.__dict__.update(error.__dict__)  # code, status
    return suggested


def registry_names(index_url: str, wanted: str) -> list[str]:
    """Cube names the registry's search finds for ``wanted``'s namespace and words."""
    from memos_client.registry.client import RegistryClient

    namespace, _, name = wanted.partition("/")
    found: list[str] = []
    with RegistryClient(index_url) as client:
        for query, limit in ((namespace, 100), (" ".join(re.split(r"[\W_]+", name)), 20)):
            if query.strip():
                found.extend(hit.name for hit in client.search(query, limit=limit).results)
    return found


@contextmanager
def suggesting_registry_names(index_url: str | None, requested: Iterable[str]) -> Iterator[None]:
    """Turn a registry's ``cube_not_found`` into the same error with a ``did you mean``."""
    try:
        yield
    except NotFoundError as exc:
        if exc.code != "cube_not_found" or index_url is None:
            raise
        from mip.names import validate_cube_name

        text = str(exc)
        missing = [n for n in requested if n.lower() in text.lower()]
        missing += _NAME.findall(text)
        for wanted in missing:
            try:
                validate_cube_name(wanted)
                names = registry_names(index_url, wanted)
            except (ValueError, MemosError):
                continue  # not a name, or no answer: the error stands without a suggestion
            suggested = with_suggestion(exc, wanted, names)
            if suggested is not exc:
                raise suggested from exc
        raise
