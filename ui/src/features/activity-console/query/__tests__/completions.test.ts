import { describe, expect, it } from "vitest";
import {
  addTerm,
  applyCompletion,
  completionContext,
  keySuggestions,
  queryTerm,
  quoteValue,
  rememberQuery,
  valueSuggestions,
} from "../completions";

/** The cursor is where `|` is. */
function at(textWithCursor: string) {
  const cursor = textWithCursor.indexOf("|");
  const text = textWithCursor.replace("|", "");
  return { text, cursor, ctx: completionContext(text, cursor) };
}

describe("completionContext", () => {
  it("completes a key at the start and after a space", () => {
    expect(at("lev|").ctx).toEqual({ kind: "key", prefix: "lev", from: 0, to: 3 });
    expect(at("gpu:1 ser|").ctx).toEqual({ kind: "key", prefix: "ser", from: 6, to: 9 });
  });

  it("completes a key after -, after ( and after OR", () => {
    expect(at("-lev|").ctx).toEqual({ kind: "key", prefix: "lev", from: 1, to: 4 });
    expect(at("(sou|").ctx).toEqual({ kind: "key", prefix: "sou", from: 1, to: 4 });
    expect(at("level:warn OR ser|").ctx).toEqual({ kind: "key", prefix: "ser", from: 14, to: 17 });
    expect(at("a OR (b OR -res|)").ctx).toEqual({ kind: "key", prefix: "res", from: 12, to: 15 });
  });

  it("replaces the whole term when the cursor is inside it", () => {
    expect(at("se|rvice x").ctx).toEqual({ kind: "key", prefix: "se", from: 0, to: 7 });
  });

  it("completes a value after key:", () => {
    expect(at("level:w|").ctx).toEqual({ kind: "value", key: "level", prefix: "w", quoted: false, from: 6, to: 7 });
    expect(at("-service:|").ctx).toEqual({ kind: "value", key: "service", prefix: "", quoted: false, from: 9, to: 9 });
    expect(at("(resource.host.name:ab| OR x)").ctx).toMatchObject({ kind: "value", key: "resource.host.name", prefix: "ab" });
  });

  it("completes a quoted value with the cursor inside the quotes, spaces included", () => {
    const { ctx } = at('service:"render wo|"');
    expect(ctx).toEqual({ kind: "value", key: "service", prefix: "render wo", quoted: true, from: 8, to: 19 });
    expect(at('service:"a \\" b|').ctx).toMatchObject({ kind: "value", prefix: 'a " b', quoted: true });
  });

  it("offers nothing inside a free-text phrase or after a comparison", () => {
    expect(at('"out of mem|"').ctx).toBeNull();
    expect(at("level>=w|").ctx).toBeNull();
    expect(at('"a b":x|').ctx).toBeNull();
  });
});

describe("suggestions", () => {
  it("puts built-ins first, then the catalogue with resource./scope. prefixes", () => {
    expect(keySuggestions("s", ["scope.name", "resource.service.version", "status"])).toEqual([
      "source",
      "service",
      "span",
      "scope.name",
      "status",
    ]);
    expect(keySuggestions("resource.", ["resource.host.name", "gpu"])).toEqual(["resource.host.name"]);
  });

  it("has built-in level values and merges facet values", () => {
    expect(valueSuggestions("level", "")).toEqual(["debug", "info", "warn", "error"]);
    expect(valueSuggestions("level", "W")).toEqual(["warn"]);
    expect(valueSuggestions("service", "re", ["render", "api", "resize"])).toEqual(["render", "resize"]);
  });
});

describe("applyCompletion", () => {
  it("adds a colon after a key and a space after a value", () => {
    const a = at("gpu:1 lev|");
    expect(applyCompletion(a.text, a.ctx!, "level")).toEqual({ text: "gpu:1 level:", cursor: 12 });
    const b = at("level:w|");
    expect(applyCompletion(b.text, b.ctx!, "warn")).toEqual({ text: "level:warn ", cursor: 11 });
  });

  it("quotes a value that needs it and replaces an open quoted value", () => {
    const a = at('-service:"render wo|');
    expect(applyCompletion(a.text, a.ctx!, "render worker").text).toBe('-service:"render worker" ');
    const b = at('(service:"ren|") x');
    expect(applyCompletion(b.text, b.ctx!, "render worker").text).toBe('(service:"render worker" ) x');
  });
});

describe("terms", () => {
  it("quotes only when needed", () => {
    expect(quoteValue("abc")).toBe("abc");
    expect(quoteValue("a b")).toBe('"a b"');
    expect(quoteValue('say "hi"\\')).toBe('"say \\"hi\\"\\\\"');
    expect(quoteValue("pre*")).toBe('"pre*"');
    expect(quoteValue("-1x")).toBe('"-1x"');
    expect(quoteValue("OR")).toBe('"OR"');
    expect(quoteValue("")).toBe('""');
  });

  it("writes filter-for and filter-out terms; a numeric-looking string stays a string", () => {
    expect(queryTerm("gpu", 1)).toBe("gpu:1");
    expect(queryTerm("gpu", "1")).toBe('gpu:"1"');
    expect(queryTerm("resource.host.name", "node a", true)).toBe('-resource.host.name:"node a"');
    expect(queryTerm("ok", true)).toBe("ok:true");
  });

  it("adds a term once and keeps an OR query whole", () => {
    expect(addTerm("", "gpu:1")).toBe("gpu:1");
    expect(addTerm("level>=warn", "gpu:1")).toBe("level>=warn gpu:1");
    expect(addTerm("level>=warn gpu:1", "gpu:1")).toBe("level>=warn gpu:1");
    expect(addTerm("a OR b", "gpu:1")).toBe("(a OR b) gpu:1");
    expect(addTerm('"x OR y" z', "gpu:1")).toBe('"x OR y" z gpu:1');
  });

  it("remembers the last 20 distinct queries, newest first", () => {
    let recent: string[] = [];
    for (let i = 0; i < 25; i++) recent = rememberQuery(recent, `q${i}`);
    recent = rememberQuery(recent, "q10");
    expect(recent).toHaveLength(20);
    expect(recent[0]).toBe("q10");
    expect(recent.filter((r) => r === "q10")).toHaveLength(1);
  });
});
