/**
 * Starts or stops a throwaway Ceph RADOS Gateway from the shell (see rgw.ts).
 *
 *     npx tsx plugins/s3/test/support/rgw-cli.ts start [DIR] [--port N] [--mon-port N]
 *     npx tsx plugins/s3/test/support/rgw-cli.ts stop DIR
 *
 * `start` prints one JSON object on stdout (endpoint, accessKeyId,
 * secretAccessKey, region, dir, port, monPort, daemons with PIDs) and exits,
 * leaving the daemons running; the same object is in DIR/rgw.json. Progress
 * goes to stderr. `stop` stops the daemons recorded in DIR and removes DIR.
 */

import { startRgw, stopRgwDir } from "./rgw.js";

const USAGE = `usage: rgw-cli.ts start [DIR] [--port N] [--mon-port N]
       rgw-cli.ts stop DIR`;

function fail(message: string): never {
  process.stderr.write(`rgw-cli: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parsePort(flag: string, value: string | undefined): number {
  const port = Number(value);
  if (value === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    fail(`${flag} needs a port number in 1..65535, got ${JSON.stringify(value ?? "")}`);
  }
  return port;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };

  if (command === "start") {
    let dir: string | undefined;
    let port: number | undefined;
    let monPort: number | undefined;
    for (let i = 0; i < rest.length; i++) {
      const arg = rest[i]!;
      if (arg === "--port") port = parsePort(arg, rest[++i]);
      else if (arg === "--mon-port") monPort = parsePort(arg, rest[++i]);
      else if (arg.startsWith("-")) fail(`unknown option ${arg}`);
      else if (dir === undefined) dir = arg;
      else fail(`unexpected argument ${JSON.stringify(arg)}`);
    }
    const rgw = await startRgw({ dir, port, monPort, log, detach: true });
    const { stop: _stop, ...description } = rgw;
    process.stdout.write(`${JSON.stringify(description)}\n`);
    return;
  }

  if (command === "stop") {
    if (rest.length !== 1) fail("stop needs exactly one DIR");
    await stopRgwDir(rest[0]!, { log });
    return;
  }

  fail(command === undefined ? "missing command" : `unknown command ${JSON.stringify(command)}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`rgw-cli: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
