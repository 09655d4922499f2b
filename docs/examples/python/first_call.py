"""The first call from Python's grpcio (docs/clients.md).

Stubs come from proto/ with grpcio-tools:

    python -m grpc_tools.protoc -I proto --python_out=gen --grpc_python_out=gen \
        proto/knotwork/catalog/v1/catalog.proto proto/knotwork/session/v1/session.proto

Then: PYTHONPATH=gen KNOTWORK_TOKEN=$(knotwork token --user alice) python first_call.py
"""

import os
import sys

import grpc

from knotwork.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from knotwork.session.v1 import session_pb2, session_pb2_grpc


def main() -> int:
    target = os.environ.get("KNOTWORK_GATEWAY", "127.0.0.1:50051")
    token = os.environ["KNOTWORK_TOKEN"]
    with grpc.insecure_channel(target) as channel:
        # The chart needs no sign-in.
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        found = catalog.FindByPain(
            catalog_pb2.FindByPainRequest(
                locations=[catalog_pb2.PainLocation(region="low back")]
            ),
            timeout=10,
        )
        for match in found.matches:
            print(match.muscle.display_name)

        # Your own data needs the bearer token.
        session = session_pb2_grpc.SessionServiceStub(channel)
        try:
            reply = session.GetScreening(
                session_pb2.GetScreeningRequest(),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=10,
            )
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        print("screening:", session_pb2.ScreeningStatus.Name(reply.screening.status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
