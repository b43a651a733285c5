import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, apiFetch } from "../api";

function respond(status: number, statusText: string, body: string): void {
  vi.stubGlobal("fetch", vi.fn(async () => new Response(body, { status, statusText })));
}

async function failure(): Promise<ApiError> {
  try {
    await apiFetch("/activity-logs");
  } catch (error) {
    return error as ApiError;
  }
  throw new Error("expected the request to fail");
}

describe("errors from the API and from what stands in front of it", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("takes the API's own code and message", async () => {
    respond(400, "Bad Request", JSON.stringify({ error: { code: "bad_request", message: "unknown level 'x'" } }));
    const error = await failure();
    expect([error.status, error.code, error.message]).toEqual([400, "bad_request", "unknown level 'x'"]);
  });

  it.each([
    ["a proxy's JSON with a string error", JSON.stringify({ error: "Bad gateway" })],
    ["an empty error object", JSON.stringify({ error: {} })],
    ["JSON null", "null"],
    ["an HTML error page", "<html>502</html>"],
  ])("keeps the status when the body is %s", async (_, body) => {
    respond(502, "Bad Gateway", body);
    const error = await failure();
    expect([error.status, error.code, error.message]).toEqual([502, "http_502", "Bad Gateway"]);
  });
});
