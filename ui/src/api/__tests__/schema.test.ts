import { expect, it } from "vitest";
import { renderLimits, renderSchema } from "../../../scripts/gen-api.mjs";
import document from "../openapi.json";
import committedLimits from "../limits.ts?raw";
import committed from "../schema.ts?raw";

it("schema.ts is what openapi-typescript generates from openapi.json", async () => {
  expect(committed, "src/api/schema.ts is out of date: run `npm run gen:api`").toBe(await renderSchema(document));
});

it("limits.ts holds the fields' bounds from openapi.json", () => {
  expect(committedLimits, "src/api/limits.ts is out of date: run `npm run gen:api`").toBe(renderLimits(document));
});
