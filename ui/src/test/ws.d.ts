// The `ws` package's client as src/api/__tests__/mock-api.test.ts uses it: ws ships no types, and
// @types/ws needs Node's, which this tsconfig leaves out. (The jsdom environment's own WebSocket
// mixes two Event implementations and fails on open.)
declare module "ws" {
  export default class WebSocket {
    constructor(url: string);
    on(event: "open", listener: () => void): this;
    on(event: "message", listener: (data: { toString(): string }) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "close", listener: (code: number) => void): this;
    send(data: string): void;
    close(): void;
  }
}
