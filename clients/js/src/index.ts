// @vectron/client: the universal entry (browsers, and any runtime with fetch).
export { VectronClient } from "./client.js";
export { Collection } from "./collection.js";
export type { CallOptions, ClientOptions, RetryInfo } from "./http.js";
export type { BackoffOptions } from "./retry.js";
export type { Transport, TransportRequest, TransportResponse } from "./transport.js";
export * from "./errors.js";
export type * from "./types.js";
