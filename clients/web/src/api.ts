// The generated clients over one grpc-web transport to the gateway, with the
// development token sent as `authorization: Bearer …`.

import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { CatalogService } from "./gen/knotwork/catalog/v1/catalog_pb";
import { ViewService } from "./gen/knotwork/gateway/v1/gateway_pb";
import { SessionService } from "./gen/knotwork/session/v1/session_pb";

const TOKEN_KEY = "knotwork.token";
const GATEWAY_KEY = "knotwork.gateway";

/** The gateway's address when nothing else is set (`knotwork up`'s default). */
export const DEFAULT_GATEWAY: string = import.meta.env.VITE_KNOTWORK_GATEWAY ?? "http://127.0.0.1:50051";

/** Reads `?gateway=` once (remembering it), else the remembered one, else the default. */
export function initialGateway(): string {
  const fromQuery = new URLSearchParams(location.search).get("gateway");
  if (fromQuery) {
    localStorage.setItem(GATEWAY_KEY, fromQuery);
    return fromQuery;
  }
  return localStorage.getItem(GATEWAY_KEY) ?? DEFAULT_GATEWAY;
}

export function saveGateway(url: string): void {
  localStorage.setItem(GATEWAY_KEY, url);
}

export function loadToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** The three services the page talks to. */
export interface Api {
  gateway: string;
  catalog: Client<typeof CatalogService>;
  session: Client<typeof SessionService>;
  view: Client<typeof ViewService>;
}

/** Adds the bearer token (read at call time, so signing in needs no new client). */
function bearer(getToken: () => string | null): Interceptor {
  return (next) => async (req) => {
    const token = getToken();
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

export function createApi(gateway: string, getToken: () => string | null): Api {
  const transport = createGrpcWebTransport({
    baseUrl: gateway.replace(/\/+$/, ""),
    interceptors: [bearer(getToken)],
  });
  return {
    gateway,
    catalog: createClient(CatalogService, transport),
    session: createClient(SessionService, transport),
    view: createClient(ViewService, transport),
  };
}

/** A fresh idempotency key for a create call. */
export function requestId(): string {
  return crypto.randomUUID();
}
