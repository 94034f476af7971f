// A real collector for the tests: `usagelens-collector serve` on a free
// port, over a fresh database of the store at MONGODB_URI, with the apps
// `alpha` and `beta` created by `apps create` and the data set of
// dataset.js ingested through POST /v1/batch with their write keys.
//
//   MONGODB_URI               required: the MongoDB-compatible store
//   USAGELENS_COLLECTOR_BIN   default: <repo>/target/debug/usagelens-collector

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { alphaEvents, betaEvents, toBatches } from "./dataset.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** The collector binary, checked to exist. */
export function collectorBin() {
  const bin = process.env.USAGELENS_COLLECTOR_BIN || path.join(REPO, "target/debug/usagelens-collector");
  if (!existsSync(bin)) {
    throw new Error(
      `no collector binary at ${bin}: build it with \`cargo build -p usagelens-collector\` ` +
        "or point USAGELENS_COLLECTOR_BIN at one",
    );
  }
  return bin;
}

/** MONGODB_URI, required. */
export function mongodbUri() {
  const uri = process.env.MONGODB_URI;
  if (!uri) {
    throw new Error(
      "MONGODB_URI is not set: these tests run against a real collector and a real " +
        "MongoDB-compatible store (start one with `cargo xtask store` and export the URI it prints)",
    );
  }
  return uri;
}

/** Runs `usagelens-collector <args>` and returns its stdout parsed as JSON. */
export function cliJson(args, env) {
  const bin = collectorBin();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`usagelens-collector ${args.join(" ")} exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`usagelens-collector ${args.join(" ")} printed no JSON: ${out}`));
      }
    });
  });
}

/** A TCP port nothing listens on (bound, then closed). */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `serve --listen 127.0.0.1:0` and reads the bound address from its
 * JSON log. Resolves to {url, stop()}.
 */
export async function serve({ database, uri, extraArgs = [] }) {
  const bin = collectorBin();
  const child = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--database", database, "--log-format", "json", ...extraArgs],
    { env: { ...process.env, MONGODB_URI: uri, RUST_LOG: "info" }, stdio: ["ignore", "ignore", "pipe"] },
  );
  // A test file that crashes before its `after` hook leaves no collector running.
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const log = [];
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  exited.then(() => process.off("exit", killOnExit));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the collector did not start within 30 s:\n${log.join("\n")}`)), 30_000);
    const lines = createInterface({ input: child.stderr });
    lines.on("line", (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
      try {
        const entry = JSON.parse(line);
        if (entry.fields?.message === "usagelens-collector serving") {
          clearTimeout(timer);
          resolve(`http://${entry.fields.listen}`);
        }
      } catch {
        // Not a log entry.
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the collector exited (${code ?? signal}) before serving:\n${log.join("\n")}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
  };
  return { url, stop, log };
}

/** Polls GET /readyz until it answers 200. */
export async function waitReady(url, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}/readyz not ready within ${timeoutMs} ms: ${last}`);
}

/** POSTs `events` to /v1/batch in batches, checking every event was accepted. */
export async function ingest(url, app, writeKey, events) {
  for (const batch of toBatches(app, events)) {
    const res = await fetch(`${url}/v1/batch`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Write-Key": writeKey },
      body: JSON.stringify(batch),
    });
    const answer = await res.json();
    if (res.status !== 200 || answer.accepted !== batch.events.length) {
      throw new Error(`ingest into ${app}: ${res.status} ${JSON.stringify(answer)}`);
    }
  }
}

/**
 * The whole fixture: a fresh database, apps `alpha` and `beta`, a serving
 * collector, both data sets ingested. `stop()` ends the server and removes
 * the apps and their events.
 */
export async function startCollector() {
  const uri = mongodbUri();
  const database = `jsclient_${randomBytes(6).toString("hex")}`;
  const env = { MONGODB_URI: uri, USAGELENS_DATABASE: database };
  const alpha = await cliJson(["apps", "create", "alpha"], env);
  const beta = await cliJson(["apps", "create", "beta"], env);
  const server = await serve({ database, uri });
  try {
    await waitReady(server.url);
    await ingest(server.url, "alpha", alpha.write_key, alphaEvents);
    await ingest(server.url, "beta", beta.write_key, betaEvents);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return {
    url: server.url,
    database,
    uri,
    alpha,
    beta,
    stop: async () => {
      await server.stop();
      await cliJson(["apps", "delete", "alpha", "--purge-events"], env).catch(() => {});
      await cliJson(["apps", "delete", "beta", "--purge-events"], env).catch(() => {});
    },
  };
}
