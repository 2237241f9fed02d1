"""The marketplace's queries, one module per job; nothing here knows about HTML.

- :mod:`.lists` -- the home page's lists, a namespace's cubes and keys;
- :mod:`.search` -- full-text search with facet filters;
- :mod:`.choices` -- the search form's suggestions, cached per application;
- :mod:`.cube_page` -- one version of a cube: its manifest view, signers, dependencies;
- :mod:`.views` -- the manifest views stored at publish, so no page decodes a manifest.

The names the pages use are re-exported here.
"""

from registry_server.services.catalog.choices import FacetChoice, FacetChoicesCache
from registry_server.services.catalog.cube_page import (
    CubePage,
    Dependency,
    SignatureCheck,
    cube_page,
    find_cube_or_404,
    find_version_or_404,
)
from registry_server.services.catalog.lists import (
    MAX_PAGE,
    CubeSummary,
    HomePage,
    NamespacePage,
    home_page,
    namespace_page,
)
from registry_server.services.catalog.search import (
    PART_KINDS,
    SearchFilters,
    SearchPage,
    search_cubes,
)

__all__ = [
    "MAX_PAGE",
    "PART_KINDS",
    "CubePage",
    "CubeSummary",
    "Dependency",
    "FacetChoice",
    "FacetChoicesCache",
    "HomePage",
    "NamespacePage",
    "SearchFilters",
    "SearchPage",
    "SignatureCheck",
    "cube_page",
    "find_cube_or_404",
    "find_version_or_404",
    "home_page",
    "namespace_page",
    "search_cubes",
]
