import { describe, expect, it } from "vitest";
import { copyableValue, fieldRows, fieldType } from "../fieldRows";

describe("field rows", () => {
  it("type every JSON value", () => {
    expect(["s", 1, 1.5, true, null, undefined, {}, []].map(fieldType)).toEqual([
      "string", "number", "number", "boolean", "null", "null", "object", "array",
    ]);
  });

  it("expand nested maps and arrays depth-first, one level deeper each", () => {
    const { rows, omitted } = fieldRows({
      host: "gpu-2",
      gpu: { index: 0, devices: [{ name: "A100", ok: true }, null] },
      empty: {},
    });
    expect(omitted).toBe(0);
    expect(rows.map((r) => [r.path, r.key, r.depth, r.type, r.display])).toEqual([
      ["host", "host", 0, "string", "gpu-2"],
      ["gpu", "gpu", 0, "object", "{2 keys}"],
      ["gpu.index", "index", 1, "number", "0"],
      ["gpu.devices", "devices", 1, "array", "[2 items]"],
      ["gpu.devices[0]", "[0]", 2, "object", "{2 keys}"],
      ["gpu.devices[0].name", "name", 3, "string", "A100"],
      ["gpu.devices[0].ok", "ok", 3, "boolean", "true"],
      ["gpu.devices[1]", "[1]", 2, "null", "null"],
      ["empty", "empty", 0, "object", "{0 keys}"],
    ]);
  });

  it("stop at maxRows and count what was left out", () => {
    const { rows, omitted } = fieldRows({ list: Array.from({ length: 10 }, (_, i) => i) }, 4);
    expect(rows).toHaveLength(4);
    expect(omitted).toBe(7);
  });

  it("copy strings as they are and anything else as JSON", () => {
    expect(copyableValue("a\nb")).toBe("a\nb");
    expect(copyableValue(42)).toBe("42");
    expect(copyableValue(null)).toBe("null");
    expect(copyableValue({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
  });
});
