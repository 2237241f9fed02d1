"""Tables of the marketplace catalog: what the web pages show and filter on, from manifests.

A version's manifest lives only inside its signed envelope; showing it on every page view, or
filtering 10,000 cubes by part kind, model fingerprint or licence, cannot decode envelopes per
request. So each version's page-ready view (``version_view``) and facets are written once, in
the publishing transaction (versions are immutable), and the facets of each cube's latest
version are copied to ``cube_facet``, whose primary key ``(facet, value, cube_id)`` answers a
filter with one index range. The extra ``cube`` indexes serve the home page's "recent" and
"popular" lists and the namespace page without scanning the table.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from registry_server.db.models import Cube

#: Facet names (the ``facet`` column).
FACET_KIND = "kind"
FACET_MODEL = "model"
FACET_MODEL_ID = "model_id"
FACET_LICENSE = "license"


class VersionFacet(SQLModel, table=True):
    """One searchable property of a version: a part kind, a model fingerprint, its licence."""

    __tablename__ = "version_facet"
    __table_args__ = (Index("ix_version_facet_lookup", "facet", "value", "cube_id"),)

    version_id: int = Field(foreign_key="cube_version.id", primary_key=True)
    facet: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=500)
    cube_id: int = Field(foreign_key="cube.id", index=True)
    #: What people read for the value (the model id of a fingerprint digest).
    label: str = Field(default="", max_length=500)


class CubeFacet(SQLModel, table=True):
    """A facet of a cube's latest version: what the search filters match, one index range each.

    Rebuilt from ``version_facet`` whenever a cube's latest version changes (publish, yank).
    """

    __tablename__ = "cube_facet"

    facet: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=500)
    cube_id: int = Field(foreign_key="cube.id", primary_key=True, index=True)
    label: str = Field(default="", max_length=500)


class VersionView(SQLModel, table=True):
    """What the pages show of a version's manifest, derived once (``services/catalog/views.py``).

    Pages read this instead of decoding the signed manifest on every view.
    """

    __tablename__ = "version_view"

    version_id: int = Field(foreign_key="cube_version.id", primary_key=True)
    #: The stored form's format; rows of an older one are derived again at start-up.
    view_format: int
    #: ``ManifestView`` as JSON.
    document: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


#: Indexes on the registry's ``cube`` table that only the catalog's pages need.
CUBE_INDEXES = (
    Index("ix_cube_downloads", Cube.__table__.c.downloads),  # type: ignore[attr-defined]
    Index("ix_cube_updated_at", Cube.__table__.c.updated_at),  # type: ignore[attr-defined]
    Index(
        "ix_cube_namespace_name",
        Cube.__table__.c.namespace_id,  # type: ignore[attr-defined]
        Cube.__table__.c.normalized_name,  # type: ignore[attr-defined]
    ),
)
