"""HubService: the domain catalogue and its schemas."""

from __future__ import annotations

from vlmgrpc.api.vlm.v1 import hub_service_pb2 as pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2_grpc as pb_grpc
from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import invalid
from vlmgrpc.jobs.service import JobService
from vlmgrpc.servicers import convert
from vlmgrpc.servicers.status import handle_errors


class HubServicer(pb_grpc.HubServiceServicer):
    def __init__(self, catalog: Catalog, jobs: JobService):
        self.catalog, self.jobs = catalog, jobs

    @handle_errors
    async def ListDomains(self, request, context):
        served = set(self.jobs.served)
        domains = sorted(served | set(self.catalog.known()))
        infos = []
        for domain in domains:
            if request.served_only and domain not in served:
                continue
            try:
                schema = self.catalog.schema(domain)
                description, inputs = schema.description, list(schema.supported_inputs)
            except Exception:  # noqa: BLE001 - platform domains without a local schema
                description, inputs = "", []
            infos.append(pb.DomainInfo(domain=domain, description=description, served=domain in served,
                                       supported_inputs=inputs))
        return pb.ListDomainsResponse(domains=infos)

    @handle_errors
    async def GetSchema(self, request, context):
        if not request.domain:
            raise invalid("MISSING_DOMAIN", "domain is required", "domain")
        schema = self.catalog.schema(request.domain)
        return pb.GetSchemaResponse(domain=schema.domain, description=schema.description,
                                    schema_version=schema.version, schema_hash=schema.hash, gql_stmt="",
                                    json_schema=convert.struct(schema.json_schema))
