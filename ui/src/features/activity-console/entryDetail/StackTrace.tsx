import { Fragment } from "react";
import { stackLines } from "./stackTrace";

/**
 * A stack trace as code: each line on its own line, frames marked, long lines scrolled sideways
 * inside the block only (the block is focusable so the keyboard can scroll it).
 */
export function StackTrace({ text, label = "Stack trace" }: { text: string; label?: string }) {
  const lines = stackLines(text);
  return (
    <pre className="stack-trace" tabIndex={0} role="region" aria-label={label}>
      {lines.map((line, i) => (
        <Fragment key={i}>
          {i > 0 && "\n"}
          <span className={`stack-${line.kind}`}>{line.text}</span>
        </Fragment>
      ))}
    </pre>
  );
}
