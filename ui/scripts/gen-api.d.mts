// Types of gen-api.mjs for src/api/__tests__/schema.test.ts.

/** The text of schema.ts for an OpenAPI document. */
export function renderSchema(document: object): Promise<string>;

/** The text of limits.ts (each schema's fields with a minimum or a maximum) for an OpenAPI document. */
export function renderLimits(document: object): string;
