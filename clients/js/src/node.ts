// @vectron/client: the Node entry. The same API as index.ts, plus the `ca` option, served
// by node:https (Node's fetch cannot be given a CA without an npm dependency).
import { nodeHttpsTransport } from "./node_transport.js";
import { registerCaTransport } from "./transport.js";

registerCaTransport(nodeHttpsTransport);

export * from "./index.js";
