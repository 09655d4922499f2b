// The first call from a browser page (docs/clients.md): find-by-pain for
// "low back" (no sign-in) and the caller's screening (with a bearer token),
// through the clients generated from proto/ by protoc-gen-es and the grpc-web
// transport of @connectrpc/connect-web. Bundle with
// `node_modules/.bin/esbuild examples/first-call.ts --bundle --outfile=first-call.js`.

import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { CatalogService } from "../src/gen/knotwork/catalog/v1/catalog_pb";
import { ScreeningStatus, SessionService } from "../src/gen/knotwork/session/v1/session_pb";

const params = new URLSearchParams(location.search);
const transport = createGrpcWebTransport({
  baseUrl: params.get("gateway") ?? "http://127.0.0.1:50051",
});
const catalog = createClient(CatalogService, transport);
const session = createClient(SessionService, transport);

async function main(): Promise<void> {
  const found = await catalog.findByPain({ locations: [{ region: "low back" }] });
  const list = document.getElementById("matches")!;
  for (const m of found.matches) {
    const item = document.createElement("li");
    item.textContent = m.muscle?.displayName ?? "?";
    list.append(item);
  }

  const token = params.get("token") ?? "";
  const screening = await session.getScreening({}, { headers: { authorization: `Bearer ${token}` } });
  document.getElementById("screening")!.textContent = ScreeningStatus[screening.screening?.status ?? 0];
}

main().catch((e: unknown) => {
  document.getElementById("error")!.textContent = String(e);
});
