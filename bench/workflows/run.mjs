// The aws-local-stepfunctions side of `python -m bench.run --workflows` (bench/workflows_run.py).
//
//     node bench/workflows/run.mjs PLAN_JSON
//
// PLAN_JSON names the workloads: [{"name", "definition" (a path), "count", "input", "warmup"}].
// For each, in this one process: build the StateMachine once (its definition check is not timed,
// as Trellis's CreateStateMachine is not), run `warmup` executions untimed, then start `count`
// executions at once and time until every result promise has settled. States entered are counted
// afterwards from each execution's event log (the library queues every event whether or not
// anyone reads it, so reading them after the clock stops costs the timed part nothing).
// Prints one JSON line per workload.

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { StateMachine } from "aws-local-stepfunctions";

// aws-local-stepfunctions 3 asks for Node >= 22 and calls Promise.withResolvers (ES2024) in its
// Task state; on Node 20 supply that one function, exactly as the standard defines it.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// The Task chain's function, the same work as bench/workflows_run.py's add_one.
const addOne = (event) => ({ value: event.value + 1 });

function overridesFor(definition) {
  // taskResourceLocalHandlers is keyed by state name: every Task state gets the function.
  const handlers = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === "Task") handlers[name] = addOne;
  }
  return { taskResourceLocalHandlers: handlers };
}

async function countStatesEntered(eventLogs) {
  let entered = 0;
  for await (const event of eventLogs) {
    if (event.type === "StateEntered") entered += 1;
  }
  return entered;
}

async function runMany(machine, options, input, count) {
  const started = performance.now();
  const runs = [];
  for (let i = 0; i < count; i += 1) runs.push(machine.run(input, options));
  const settled = await Promise.allSettled(runs.map((run) => run.result));
  const seconds = (performance.now() - started) / 1000;
  let transitions = 0;
  for (const run of runs) transitions += await countStatesEntered(run.eventLogs);
  const failures = settled.filter((s) => s.status === "rejected");
  const outputs = settled.filter((s) => s.status === "fulfilled").map((s) => JSON.stringify(s.value));
  return {
    seconds,
    transitions,
    succeeded: count - failures.length,
    failed: failures.length,
    first_failure: failures.length ? String(failures[0].reason?.message ?? failures[0].reason) : null,
    distinct_outputs: [...new Set(outputs)].slice(0, 3).map((text) => JSON.parse(text)),
  };
}

async function main() {
  const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
  for (const workload of plan) {
    const definition = JSON.parse(readFileSync(workload.definition, "utf8"));
    const machine = new StateMachine(definition);
    const options = { overrides: overridesFor(definition) };
    if (workload.warmup > 0) await runMany(machine, options, workload.input, workload.warmup);
    const measured = await runMany(machine, options, workload.input, workload.count);
    console.log(JSON.stringify({ name: workload.name, executions: workload.count, ...measured }));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
