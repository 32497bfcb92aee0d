"""HubService (the domain catalogue and its schemas) and ModelService (the models behind it)."""

from __future__ import annotations

from vlmgrpc.api.vlm.v1 import hub_service_pb2 as pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2_grpc as pb_grpc
from vlmgrpc.api.vlm.v1 import model_service_pb2 as models_pb
from vlmgrpc.api.vlm.v1 import model_service_pb2_grpc as models_grpc
from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import invalid
from vlmgrpc.inference.models import ModelRegistry
from vlmgrpc.servicers import convert
from vlmgrpc.servicers.status import handle_errors


class HubServicer(pb_grpc.HubServiceServicer):
    def __init__(self, catalog: Catalog, models: ModelRegistry):
        self.catalog, self.models = catalog, models

    @handle_errors
    async def ListDomains(self, request, context):
        infos = []
        for domain in sorted(set(self.catalog.known()) | set(self.models.served_domains())):
            serving = [m.id for m in self.models.serving(domain)]
            if request.served_only and not serving:
                continue
            schema = self.catalog.schema(domain) if self.catalog.is_known(domain) else None
            infos.append(pb.DomainInfo(domain=domain, description=schema.description if schema else "",
                                       served=bool(serving), models=serving,
                                       supported_inputs=list(schema.supported_inputs) if schema else []))
        return pb.ListDomainsResponse(domains=infos)

    @handle_errors
    async def GetSchema(self, request, context):
        if not request.domain:
            raise invalid("MISSING_DOMAIN", "domain is required", "domain")
        schema = self.catalog.schema(request.domain, grounding=request.grounding, confidence=request.confidence)
        return pb.GetSchemaResponse(domain=schema.domain, description=schema.description,
                                    schema_version=schema.version, schema_hash=schema.hash, gql_stmt="",
                                    json_schema=convert.struct(schema.json_schema))


class ModelServicer(models_grpc.ModelServiceServicer):
    def __init__(self, models: ModelRegistry):
        self.models = models

    @handle_errors
    async def ListModels(self, request, context):
        return models_pb.ListModelsResponse(models=[
            models_pb.Model(id=m.id, engine=m.engine, protocol=m.protocol, domains=list(m.domains),
                            follows_json_schema=m.follows_schema, ready=m.ready,
                            max_images=min(m.max_images, 2**31 - 1))
            for m in self.models.all()])
