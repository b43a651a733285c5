import { describe, expect, it } from "vitest";
import { detectException, stackLines, tracebackStart, unescapeNewlines } from "../stackTrace";

const PYTHON = [
  "Traceback (most recent call last):",
  '  File "/srv/worker/run.py", line 88, in execute',
  "    result = node.run(inputs)",
  '  File "/srv/comfy/nodes.py", line 1532, in run',
  '    raise ValueError(f"bad latent shape {shape}")',
  "ValueError: bad latent shape (1, 4, 64)",
].join("\n");

const JAVASCRIPT = [
  "TypeError: Cannot read properties of undefined (reading 'id')",
  "    at renderJob (/app/src/render.js:42:17)",
  "    at async Promise.all (index 0)",
  "    at processQueue (/app/src/queue.js:10:5)",
].join("\n");

const JAVA = [
  'Exception in thread "main" java.lang.IllegalStateException: queue closed',
  "\tat com.example.Queue.take(Queue.java:51)",
  "\tat com.example.Worker.run(Worker.java:20)",
  "Caused by: java.io.IOException: broken pipe",
  "\tat com.example.Pipe.read(Pipe.java:7)",
  "\t... 2 more",
].join("\n");

describe("stack traces", () => {
  it("classify a Python traceback's lines: header, frames, their code, the exception", () => {
    expect(stackLines(PYTHON).map((l) => l.kind)).toEqual(["header", "frame", "code", "frame", "code", "header"]);
  });

  it("classify JavaScript and Java frames and causes", () => {
    expect(stackLines(JAVASCRIPT).map((l) => l.kind)).toEqual(["header", "frame", "frame", "frame"]);
    expect(stackLines("Error: x\n    at the desk all day").map((l) => l.kind)).toEqual(["header", "text"]);
    expect(stackLines(JAVA).map((l) => l.kind)).toEqual(["header", "frame", "frame", "cause", "frame", "frame"]);
  });

  it("keep every character: the lines joined by newlines are the text", () => {
    for (const text of [PYTHON, JAVASCRIPT, JAVA, `${PYTHON}\n\n`]) {
      expect(stackLines(text).map((l) => l.text).join("\n")).toBe(text);
    }
  });

  it("turn a trace serialised with literal \\n into lines, but leave real newlines alone", () => {
    const escaped = PYTHON.replace(/\n/g, "\\n");
    expect(escaped).not.toContain("\n");
    expect(unescapeNewlines(escaped)).toBe(PYTHON);
    expect(stackLines(escaped)).toHaveLength(6);
    const real = 'x = "a\\nb"\nnext line';
    expect(unescapeNewlines(real)).toBe(real);
  });

  it("find a traceback inside a message, at the start of its line", () => {
    const message = `prompt 7f3a failed on gpu-2\n${PYTHON}`;
    expect(tracebackStart(message)).toBe("prompt 7f3a failed on gpu-2\n".length);
    expect(tracebackStart(`job 12: ${JAVASCRIPT}`)).toBe(-1); // the exception line must start the line
    expect(tracebackStart(`render failed\n${JAVASCRIPT}`)).toBe("render failed\n".length);
    expect(tracebackStart(`worker died\n${JAVA}`)).toBe("worker died\n".length);
    expect(tracebackStart("ValueError: one line, no frames")).toBe(-1);
    expect(tracebackStart("all good\n    at the desk")).toBe(-1);
  });

  it("take the exception from the OpenTelemetry attributes first, flat or nested", () => {
    const flat = detectException({
      message: "render failed",
      fields: { "exception.type": "ValueError", "exception.message": "bad shape", "exception.stacktrace": PYTHON },
    });
    expect(flat).toEqual({ origin: "fields", type: "ValueError", message: "bad shape", stacktrace: PYTHON });
    const nested = detectException({ message: "x", fields: { exception: { type: "OSError", stacktrace: PYTHON } } });
    expect(nested).toMatchObject({ origin: "fields", type: "OSError", message: null, stacktrace: PYTHON });
  });

  it("fall back to a traceback in the message, and find none in plain text", () => {
    const message = `prompt failed\n${PYTHON}`;
    expect(detectException({ message, fields: {} })).toEqual({
      origin: "message",
      type: null,
      message: null,
      stacktrace: PYTHON,
      messageOffset: "prompt failed\n".length,
    });
    expect(detectException({ message: "GPU 0 at 81 °C", fields: { temperature: 81 } })).toBeNull();
  });
});
