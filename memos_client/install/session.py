"""One install command's state: its options, the registry through the cache, trust material.

:class:`Session` is what the workflows (:mod:`memos_client.install.workflow`) and a local bundle's
import (:mod:`memos_client.install.bundle_import`) share: both check signers against the same
pins, and remember first-use pins the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from memos_client.install.installer import VerifiedCube, authenticate_envelope, validate_manifest
from memos_client.install.resolver import Candidate
from memos_client.trust.store import NamespacePin, load_pins, save_pins, trusted_keys

if TYPE_CHECKING:
    from memos_client.runtime import MemOS
    from mip.keys import PublicKey

#: ``progress(total_bytes, description)``: a context giving an ``advance(count)`` callback, or
#: ``None`` when nothing is drawn (the CLI passes its progress bar; the library draws nothing).
ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], None] | None]]


class Options(msgspec.Struct):
    """What every install command shares."""

    home: Path
    cache: Cache
    index_url: str
    offline: bool = False
    allow_unsigned: bool = False
    upgrade: bool = False
    progress: ProgressFactory | None = None
    #: A lockfile's trust, which narrows the pins (``memos sync``).
    lock_keys: dict[str, dict[str, PublicKey | None]] | None = None


class Session(msgspec.Struct):
    """One command's state: the registry, trust material, and pins learned on first use."""

    options: Options
    registry: CachedRegistry
    trusted: dict[str, PublicKey]
    pins: dict[str, NamespacePin]
    new_pins: dict[str, NamespacePin] = msgspec.field(default_factory=dict)
    _registry_keys: dict[str, Mapping[str, PublicKey]] = msgspec.field(default_factory=dict)

    def registry_keys(self, namespace: str) -> Mapping[str, PublicKey]:
        """The registry's keys for a namespace (fetched once per command)."""
        if namespace not in self._registry_keys:
            self._registry_keys[namespace] = self.registry.namespace_keys(namespace)
        return self._registry_keys[namespace]

    def authenticate(
        self, candidate: Candidate, envelope_bytes: bytes, source: str
    ) -> VerifiedCube:
        """Check an envelope's digest, signature (trust rules) and identity; remember a first-use
        pin. The manifest is not yet validated (:meth:`validate`)."""
        cube = authenticate_envelope(
            candidate,
            envelope_bytes,
            self.registry.cache,
            trusted=self.trusted,
            pins=self.pins,
            lock_keys=self.options.lock_keys,
            registry_keys=None if self.options.offline else self.registry_keys,
            allow_unsigned=self.options.allow_unsigned,
            source=source,
        )
        if cube.new_pin is not None:
            # Later cubes of the same namespace in this command must match the same key.
            self.pins[cube.new_pin.namespace] = cube.new_pin
            self.new_pins[cube.new_pin.namespace] = cube.new_pin
        return cube

    def validate(self, cube: VerifiedCube) -> None:
        """Validate an authenticated cube's manifest against the MIP schema; cache its envelope."""
        validate_manifest(cube, self.registry.cache)

    def save_pins(self) -> list[NamespacePin]:
        """Persist first-use pins (after the install succeeded); return them."""
        if self.new_pins:
            stored = load_pins(self.options.home)
            for namespace, pin in self.new_pins.items():
                stored.setdefault(namespace, pin)
            save_pins(stored, self.options.home)
        return list(self.new_pins.values())

    def close(self) -> None:
        """Close network connections."""
        self.registry.close()


def open_session(options: Options) -> Session:
    """A session for ``options`` (reads trusted keys and pins from ``MEMOS_HOME``)."""
    registry = CachedRegistry(options.index_url, options.cache, offline=options.offline)
    return Session(options, registry, trusted_keys(options.home), load_pins(options.home))


def open_runtime(home: Path) -> MemOS:
    """The local runtime store under ``home`` (its embedder: ``$MEMOS_EMBEDDER``, else MiniLM)."""
    from memos_client.runtime import MemOS

    return MemOS(home)
