// Types of gen-api.mjs for src/api/__tests__/schema.test.ts.

/** The text of schema.ts for an OpenAPI document. */
export function renderSchema(document: object): Promise<string>;
