import { describe, expect, it } from "vitest";
import { postAndWait } from "./sw-client";

describe("postAndWait", () => {
  it("resolves true once the target answers on the reply port", async () => {
    const seen: unknown[] = [];
    const target = {
      postMessage(message: unknown, transfer: Transferable[]) {
        seen.push(message);
        (transfer[0] as MessagePort).postMessage(true);
      },
    };
    expect(await postAndWait(target, { type: "catalog-version", version: "v1" }, 5_000)).toBe(true);
    expect(seen).toEqual([{ type: "catalog-version", version: "v1" }]);
  });

  it("resolves false when the target never answers (a worker of an older build)", async () => {
    const target = { postMessage() {} };
    expect(await postAndWait(target, { type: "catalog-version", version: "v1" }, 20)).toBe(false);
  });
});
