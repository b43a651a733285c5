import { Component } from "react";
import type { ErrorInfo, ReactNode } from "react";

interface Props {
  children: ReactNode;
  /** A change (the route's path) clears the error: another page may load fine. */
  resetKey: string;
}

interface State {
  error: Error | null;
  resetKey: string;
}

/**
 * Catches what a route page throws while loading or rendering, most often a lazily loaded chunk
 * that could not be fetched (the server was down, or a new build replaced it), and offers a reload
 * instead of leaving the app blank.
 */
export class RouteErrorBoundary extends Component<Props, State> {
  override state: State = { error: null, resetKey: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    return props.resetKey !== state.resetKey ? { error: null, resetKey: props.resetKey } : null;
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error("page failed to load", error, info.componentStack);
  }

  override render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    const chunk = isChunkLoadError(error);
    return (
      <div className="page route-error" role="alert">
        <h1>{chunk ? "This page could not be loaded" : "This page failed"}</h1>
        <p className="muted">
          {chunk
            ? "Part of the console could not be fetched from the server (it may be restarting or updated)."
            : error.message}
        </p>
        <button type="button" className="btn" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}

/** How browsers word a failed `import()` (Chromium, Firefox, Safari) and Vite's preload failure. */
export function isChunkLoadError(error: Error): boolean {
  return /dynamically imported module|error loading dynamically imported|importing a module script failed|unable to preload css/i.test(
    error.message,
  );
}
