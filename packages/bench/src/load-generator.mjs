// The HTTP load generator: a plain Node process (no TypeScript loader, so it starts fast) that the bench forks.
// It gets its work over IPC, runs `flows` create → read token → accept → resolve sequences against the server
// with at most `concurrency` in flight, and sends back the wall time and each step's latencies. Every loop is
// bounded by the flow count, and the process exits when it is done.

/** @param {number[]} sorted @param {number} q */
function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (pos - lo);
}

/** @param {number[]} values */
function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    medianMs: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    meanMs: mean,
  };
}

/**
 * @param {{ url: string, org: string, plural: string, object: string, creator: string,
 *   flows: { context: string, target: string }[], warmup: number, concurrency: number, timeoutMs: number }} job
 */
async function run(job) {
  const api = `${job.url}/${job.org}/v2`;
  const deadline = Date.now() + job.timeoutMs;
  /** @type {Record<string, number[]>} */
  const steps = { create: [], readToken: [], accept: [], resolve: [] };
  let errors = 0;
  let firstError = null;

  /** @param {string} step @param {boolean} record @param {() => Promise<Response>} send */
  async function call(step, record, send) {
    const start = performance.now();
    const response = await send();
    const body = await response.json();
    if (record) steps[step]?.push(performance.now() - start);
    if (!response.ok) throw new Error(`${step}: HTTP ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** @param {{ context: string, target: string }} flow @param {boolean} record */
  async function one(flow, record) {
    const json = { "Content-Type": "application/json" };
    const created = await call("create", record, () =>
      fetch(`${api}/${job.plural}/${flow.context}/connections`, {
        method: "POST",
        headers: { ...json, Authorization: `Bearer ${job.creator}` },
        body: JSON.stringify({ targets: [{ _id: flow.target, access: 4 }] }),
      }),
    );
    const id = created.data?.[0]?._id;
    if (typeof id !== "string") throw new Error(`create: no connection in ${JSON.stringify(created)}`);
    const pending = await call("readToken", record, () =>
      fetch(`${api}/connections/${id}`, { headers: { Authorization: `Bearer ${flow.target}` } }),
    );
    if (typeof pending.token !== "string") throw new Error("readToken: the target's view has no token");
    const accepted = await call("accept", record, () =>
      fetch(`${api}/connections/${pending.token}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${flow.target}` },
      }),
    );
    if (accepted.state !== 1) throw new Error(`accept: state ${accepted.state}`);
    const query = new URLSearchParams({
      org: job.org,
      account: flow.target,
      object: job.object,
      id: flow.context,
    });
    const access = await call("resolve", record, () => fetch(`${job.url}/host/access?${query}`));
    if (access.access !== 4) throw new Error(`resolve: access ${access.access}, expected 4`);
  }

  /** @param {{ context: string, target: string }[]} flows @param {boolean} record */
  async function pool(flows, record) {
    let next = 0;
    const worker = async () => {
      while (next < flows.length && Date.now() < deadline) {
        const flow = flows[next++];
        if (flow === undefined) break;
        try {
          await one(flow, record);
        } catch (error) {
          errors++;
          firstError ??= String(error instanceof Error ? error.message : error);
        }
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  }

  await pool(job.flows.slice(0, job.warmup), false);
  const start = performance.now();
  await pool(job.flows.slice(job.warmup), true);
  const wallMs = performance.now() - start;
  const done = steps.resolve.length;
  return {
    wallMs,
    flows: done,
    errors,
    firstError,
    flowsPerSec: (done * 1000) / wallMs,
    requestsPerSec:
      ((steps.create.length + steps.readToken.length + steps.accept.length + done) * 1000) / wallMs,
    steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, summary(v)])),
  };
}

process.once("message", (job) => {
  run(job).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (error) => process.send?.({ ok: false, error: String(error?.stack ?? error) }, () => process.exit(1)),
  );
});
