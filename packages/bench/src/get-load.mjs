// The GET load generator: a plain Node process the bench forks once. Each message is a job
// `{ url, headers, requests, concurrency }`: it sends `requests` GETs of `url`, `concurrency` in flight
// (keep-alive fetch), checks every answer is 200, and answers with the wall time and the latencies. The message
// `"exit"` ends it.

/** @param {{ url: string, headers: Record<string, string>, requests: number, concurrency: number }} job */
async function run(job) {
  /** @type {number[]} */
  const latencies = [];
  let next = 0;
  let errors = 0;
  let firstError = null;
  const worker = async () => {
    while (next < job.requests) {
      next++;
      const start = performance.now();
      try {
        const response = await fetch(job.url, { headers: job.headers });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
        latencies.push(performance.now() - start);
      } catch (error) {
        errors++;
        firstError ??= String(error instanceof Error ? error.message : error);
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const wallMs = performance.now() - start;
  return { wallMs, latencies, errors, firstError };
}

process.on("message", (job) => {
  if (job === "exit") process.exit(0);
  run(job).then(
    (result) => process.send?.({ ok: true, result }),
    (error) => process.send?.({ ok: false, error: String(error?.stack ?? error) }),
  );
});
