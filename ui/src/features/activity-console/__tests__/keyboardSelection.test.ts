import { describe, expect, it } from "vitest";
import { edgeSelection, revealScrollTop, stepSelection } from "../keyboardSelection";

// "g" marks a gap marker, which the selection skips.
const list = (s: string) => ({ length: s.length, at: (i: number) => s[i] });
const isEntry = (c: string) => c !== "g";

describe("stepSelection", () => {
  it("moves one selectable row down and up, skipping gap markers", () => {
    const rows = list("eegee");
    expect(stepSelection(rows, 0, 1, isEntry)).toBe(1);
    expect(stepSelection(rows, 1, 1, isEntry)).toBe(3);
    expect(stepSelection(rows, 3, -1, isEntry)).toBe(1);
  });

  it("stays put at either end", () => {
    const rows = list("eee");
    expect(stepSelection(rows, 2, 1, isEntry)).toBe(2);
    expect(stepSelection(rows, 0, -1, isEntry)).toBe(0);
  });

  it("lands on the fallback row (or the nearest entry to it) when nothing is selected", () => {
    expect(stepSelection(list("eeee"), -1, -1, isEntry)).toBe(3);
    expect(stepSelection(list("eeee"), -1, 1, isEntry, 1)).toBe(1);
    expect(stepSelection(list("eeeg"), -1, -1, isEntry)).toBe(2);
    expect(stepSelection(list("geee"), -1, 1, isEntry, 0)).toBe(1);
  });

  it("finds nothing in an empty list or a list of gaps", () => {
    expect(stepSelection(list(""), -1, 1, isEntry)).toBe(-1);
    expect(stepSelection(list("gg"), -1, 1, isEntry)).toBe(-1);
  });
});

describe("edgeSelection", () => {
  it("finds the first and the last entry", () => {
    expect(edgeSelection(list("geeg"), "first", isEntry)).toBe(1);
    expect(edgeSelection(list("geeg"), "last", isEntry)).toBe(2);
    expect(edgeSelection(list("g"), "last", isEntry)).toBe(-1);
  });
});

describe("revealScrollTop", () => {
  it("scrolls up to a row above the viewport and down to one below it", () => {
    expect(revealScrollTop(100, 22, 300, 200)).toBe(100);
    expect(revealScrollTop(600, 22, 300, 200)).toBe(422);
  });

  it("leaves a visible row where it is", () => {
    expect(revealScrollTop(350, 22, 300, 200)).toBe(300);
  });

  it("shows the top of a row taller than the viewport", () => {
    expect(revealScrollTop(600, 1000, 300, 200)).toBe(600);
  });
});
