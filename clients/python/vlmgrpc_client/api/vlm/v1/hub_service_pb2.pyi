from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListDomainsRequest(_message.Message):
    __slots__ = ("served_only",)
    SERVED_ONLY_FIELD_NUMBER: _ClassVar[int]
    served_only: bool
    def __init__(self, served_only: _Optional[bool] = ...) -> None: ...

class DomainInfo(_message.Message):
    __slots__ = ("domain", "description", "served", "supported_inputs", "models")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_INPUTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    description: str
    served: bool
    supported_inputs: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domain: _Optional[str] = ..., description: _Optional[str] = ..., served: _Optional[bool] = ..., supported_inputs: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains",)
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[DomainInfo]
    def __init__(self, domains: _Optional[_Iterable[_Union[DomainInfo, _Mapping]]] = ...) -> None: ...

class GetSchemaRequest(_message.Message):
    __slots__ = ("domain", "grounding", "confidence")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    GROUNDING_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    domain: str
    grounding: bool
    confidence: bool
    def __init__(self, domain: _Optional[str] = ..., grounding: _Optional[bool] = ..., confidence: _Optional[bool] = ...) -> None: ...

class GetSchemaResponse(_message.Message):
    __slots__ = ("domain", "description", "schema_version", "schema_hash", "gql_stmt", "json_schema")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_HASH_FIELD_NUMBER: _ClassVar[int]
    GQL_STMT_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    domain: str
    description: str
    schema_version: str
    schema_hash: str
    gql_stmt: str
    json_schema: _struct_pb2.Struct
    def __init__(self, domain: _Optional[str] = ..., description: _Optional[str] = ..., schema_version: _Optional[str] = ..., schema_hash: _Optional[str] = ..., gql_stmt: _Optional[str] = ..., json_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
