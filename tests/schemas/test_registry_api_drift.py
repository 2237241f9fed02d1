"""The registry's response models and mip's wire documents describe the same JSON.

``mip.registry_api`` is what clients decode with; ``registry_server.api.schemas`` is what the
server answers with. Their JSON Schemas are compared field by field: the same names, the same
types (a reference to another document counts as that document), the same required fields.
Constraints (lengths, bounds) are the server's to enforce and are not compared, nor are string
formats (msgspec does not write ``date-time`` for ``datetime``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from mip import registry_api as wire
from registry_server.api import schemas as server
from registry_server.errors import RegistryError as ServerError

#: mip struct -> the server's pydantic model of the same document.
PAIRS: dict[type[msgspec.Struct], type[BaseModel]] = {
    wire.ErrorDetail: server.ErrorDetail,
    wire.ErrorBody: server.ErrorBody,
    wire.WhoAmI: server.WhoAmIBody,
    wire.TokenCreate: server.TokenCreate,
    wire.TokenCreated: server.TokenCreatedBody,
    wire.TokenInfo: server.TokenInfo,
    wire.TokenList: server.TokenListBody,
    wire.KeyCreate: server.KeyCreate,
    wire.KeyInfo: server.KeyBody,
    wire.KeyList: server.KeyListBody,
    wire.UploadResult: server.UploadResultBody,
    wire.UploadSessionCreate: server.UploadSessionCreate,
    wire.UploadSession: server.UploadSessionBody,
    wire.PublishRequest: server.PublishRequest,
    wire.PublishResult: server.PublishResultBody,
    wire.Version: server.VersionBody,
    wire.PartSummary: server.PartSummary,
    wire.VersionDetail: server.VersionDetailBody,
    wire.CubeDocument: server.CubeIndexBody,
    wire.YankRequest: server.YankRequest,
    wire.SearchHit: server.SearchHit,
    wire.SearchPage: server.SearchBody,
    wire.LogInfo: server.LogInfoBody,
    wire.LogEntry: server.LogEntryBody,
    wire.LogEntries: server.LogEntriesBody,
    wire.LogInclusion: server.InclusionBody,
    wire.LogConsistency: server.ConsistencyBody,
}
NAMES = {struct.__name__: model.__name__ for struct, model in PAIRS.items()}


def _type(schema: dict[str, Any], rename: dict[str, str]) -> str:
    """A canonical text for the type a JSON Schema describes."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return "ref:" + rename.get(name, name)
    if "anyOf" in schema:
        return "|".join(sorted(_type(option, rename) for option in schema["anyOf"]))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array<{_type(schema.get('items', {}), rename)}>"
    if kind == "object":
        values = schema.get("additionalProperties", {})
        return f"object<{_type(values, rename) if isinstance(values, dict) else 'any'}>"
    return str(kind)


def _shape(
    schema: dict[str, Any], definitions: dict[str, Any], rename: dict[str, str]
) -> dict[str, Any]:
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    return {
        "fields": {name: _type(field, rename) for name, field in schema["properties"].items()},
        "required": sorted(schema.get("required", [])),
    }


@pytest.mark.parametrize("struct", list(PAIRS), ids=lambda struct: struct.__name__)
def test_the_server_model_describes_the_same_document(struct: type[msgspec.Struct]) -> None:
    (client_schema,), definitions = msgspec.json.schema_components([struct])
    client = _shape(client_schema, definitions, NAMES)
    model = PAIRS[struct]
    server_schema = model.model_json_schema(mode="serialization")
    ours = _shape(server_schema, server_schema.get("$defs", {}), {})
    assert client == ours, f"mip.registry_api.{struct.__name__} drifted from {model.__name__}"


def _subclasses(cls: type[ServerError]) -> list[type[ServerError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def test_every_code_of_the_server_s_errors_is_in_the_enum() -> None:
    codes = {cls.code for cls in _subclasses(ServerError)}
    assert codes <= {code.value for code in wire.ErrorCode}, codes - set(wire.ErrorCode)
