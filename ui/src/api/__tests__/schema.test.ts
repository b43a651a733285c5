import { expect, it } from "vitest";
import { renderSchema } from "../../../scripts/gen-api.mjs";
import document from "../openapi.json";
import committed from "../schema.ts?raw";

it("schema.ts is what openapi-typescript generates from openapi.json", async () => {
  expect(committed, "src/api/schema.ts is out of date: run `npm run gen:api`").toBe(await renderSchema(document));
});
