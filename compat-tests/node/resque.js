// The node-resque side of pyresque's compat tests (compat-tests/test_node_*.py).
//
// Usage: REDIS_URL=redis://127.0.0.1:port/0 node resque.js COMMAND ...
//   enqueue QUEUE CLASS ARGS_JSON        Queue#enqueue; prints the payload pushed
//   enqueue-at TS_S QUEUE CLASS ARGS_JSON Queue#enqueueAt (resque-scheduler's keys)
//   work QUEUES COUNT                     a Worker until COUNT jobs ended (success
//                                         or failure), then a clean end()
//   serve QUEUES                          a Worker until SIGTERM (for tests that
//                                         need one running); prints "ready"
//   serve-multi QUEUES                    a MultiWorker (one task processor, named
//                                         host:pid+1) until SIGTERM; prints "ready"
//   retry-failed INDEX                    Queue#retryAndRemoveFailed of failed[INDEX]
//   failed                                Queue#failed(0, -1) as JSON
//
// Jobs: Echo records its args in RESULTS_KEY; Explode throws an Error; Shrug
// throws a string, which is not an Error;
// Hold records its args, then waits until the key pyresque-test:release exists.
"use strict";

const { MultiWorker, Queue, Worker } = require("node-resque");

const RESULTS_KEY = "pyresque-test:node-results";

function connectionDetails() {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    database: Number((url.pathname || "/0").slice(1) || 0),
    namespace: process.env.RESQUE_NAMESPACE || "resque",
  };
}

function jobs(queue) {
  const redis = () => queue.connection.redis;
  return {
    Echo: {
      perform: async (...args) => {
        await redis().rpush(RESULTS_KEY, JSON.stringify({ class: "Echo", args }));
        return true;
      },
    },
    Explode: {
      perform: async (...args) => {
        throw new Error(`boom ${JSON.stringify(args)}`);
      },
    },
    Shrug: {
      perform: async () => {
        throw "shrug"; // eslint-disable-line no-throw-literal -- what some JavaScript code does
      },
    },
    Hold: {
      perform: async (...args) => {
        await redis().rpush(RESULTS_KEY, JSON.stringify({ class: "Hold", args }));
        while (!(await redis().exists("pyresque-test:release"))) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return true;
      },
    },
  };
}

async function withQueue(fn) {
  const queue = new Queue({ connection: connectionDetails() });
  await queue.connect();
  try {
    return await fn(queue);
  } finally {
    await queue.end();
  }
}

async function startWorker(queues, onEnded) {
  const queue = new Queue({ connection: connectionDetails() });
  await queue.connect();
  const worker = new Worker({ connection: connectionDetails(), queues: queues.split(","), timeout: 50 }, jobs(queue));
  worker.on("success", () => onEnded(worker, queue));
  worker.on("failure", () => onEnded(worker, queue));
  worker.on("error", (error) => console.error("worker error", error));
  await worker.connect();
  await worker.start();
  return { worker, queue };
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "enqueue") {
    const [q, klass, argsJson] = rest;
    await withQueue(async (queue) => {
      await queue.enqueue(q, klass, JSON.parse(argsJson));
      process.stdout.write(JSON.stringify(await queue.connection.redis.lindex(queue.connection.key("queue", q), -1)));
    });
  } else if (command === "enqueue-at") {
    const [ts, q, klass, argsJson] = rest;
    await withQueue((queue) => queue.enqueueAt(Number(ts) * 1000, q, klass, JSON.parse(argsJson)));
  } else if (command === "work") {
    const [queues, count] = rest;
    let ended = 0;
    await new Promise((resolve) => {
      startWorker(queues, async (worker, queue) => {
        ended += 1;
        if (ended === Number(count)) {
          await worker.end();
          await queue.end();
          resolve();
        }
      });
    });
  } else if (command === "serve") {
    const { worker, queue } = await startWorker(rest[0], () => {});
    process.stdout.write("ready\n");
    process.on("SIGTERM", async () => {
      await worker.end();
      await queue.end();
      process.exit(0);
    });
  } else if (command === "serve-multi") {
    const queue = new Queue({ connection: connectionDetails() });
    await queue.connect();
    const multi = new MultiWorker(
      { connection: connectionDetails(), queues: rest[0].split(","), minTaskProcessors: 1, maxTaskProcessors: 1, timeout: 50 },
      jobs(queue),
    );
    multi.on("error", (error) => console.error("multiworker error", error));
    await multi.start();
    process.stdout.write("ready\n");
    process.on("SIGTERM", async () => {
      await multi.end();
      await queue.end();
      process.exit(0);
    });
  } else if (command === "retry-failed") {
    await withQueue(async (queue) => {
      const [failed] = await queue.failed(Number(rest[0]), Number(rest[0]));
      await queue.retryAndRemoveFailed(failed);
    });
  } else if (command === "failed") {
    await withQueue(async (queue) => process.stdout.write(JSON.stringify(await queue.failed(0, -1))));
  } else {
    throw new Error(`unknown command ${command}`);
  }
}

main().then(
  () => {
    if (!process.argv[2].startsWith("serve")) process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
