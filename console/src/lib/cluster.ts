// The cluster view's model. A gateway will answer GET /v1/cluster with this shape
// (docs/console.md, "Cluster"); `vectron serve` has no such route, and the console
// builds the same shape for its one node from /readyz, /v1/collections and /metrics.

import type { CollectionSummary } from "./api";
import { gauge, type Sample } from "./prom";

export interface PdMember {
  id: string;
  address: string;
  leader: boolean;
  healthy: boolean;
}

export interface Worker {
  id: string;
  address: string;
  alive: boolean;
  last_heartbeat_ms?: number; // Milliseconds since PD last heard from it.
  shards: number; // Replicas it hosts.
  detail?: Record<string, number | string>;
}

export interface ShardReplica {
  worker: string;
  role: "leader" | "follower" | "learner";
}

export interface Shard {
  collection: string;
  shard: string; // Id within the collection.
  range?: string; // Hash range of point ids it owns.
  epoch?: number;
  replicas: ShardReplica[];
  points?: number;
  disk_bytes?: number;
}

export interface Move {
  collection: string;
  shard: string;
  from: string;
  to: string;
  progress?: number; // 0..1.
}

export interface ClusterView {
  mode: "single-node" | "cluster";
  pd: PdMember[];
  workers: Worker[];
  shards: Shard[];
  moves: Move[];
}

function arr<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

// Reads a gateway's GET /v1/cluster answer, tolerating missing parts.
export function fromGateway(raw: unknown): ClusterView {
  const o = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  return {
    mode: "cluster",
    pd: arr<PdMember>(o.pd),
    workers: arr<Worker>(o.workers),
    shards: arr<Shard>(o.shards),
    moves: arr<Move>(o.moves),
  };
}

// `vectron serve`: one process in every role. Each collection's shards are local, the
// node leads them all, and its size comes from the collection list.
export function singleNode(
  address: string,
  ready: boolean,
  collections: CollectionSummary[],
  metrics: Sample[],
): ClusterView {
  const shards: Shard[] = [];
  for (const c of collections) {
    const n = Math.max(1, c.shards || 1);
    for (let i = 0; i < n; i++) {
      shards.push({
        collection: c.name,
        shard: String(i),
        range: n === 1 ? "all ids" : `hash(id) mod ${n} = ${i}`,
        replicas: [{ worker: address, role: "leader" }],
        // Sizes are known per collection, so only a one-shard collection shows them.
        points: n === 1 ? c.count : undefined,
        disk_bytes: n === 1 ? c.disk_bytes : undefined,
      });
    }
  }
  const detail: Record<string, number | string> = {};
  for (const [label, name] of [
    ["worker threads", "vectron_worker_threads"],
    ["busy", "vectron_worker_busy"],
    ["queued", "vectron_worker_queue_depth"],
    ["HTTP connections", "vectron_http_connections"],
    ["RPC connections", "vectron_rpc_connections"],
  ] as const) {
    const v = gauge(metrics, name);
    if (v !== undefined) detail[label] = v;
  }
  return {
    mode: "single-node",
    pd: [{ id: "local", address, leader: true, healthy: ready }],
    workers: [{ id: "local", address, alive: ready, shards: shards.length, detail }],
    shards,
    moves: [],
  };
}
