/**
 * Every suite, in the order `npm run bench` runs them. A new suite is a
 * file in this folder exporting a `Suite`, and one entry here.
 */

import type { Suite } from "../model.js";
import { file } from "./file.js";
import { memory } from "./memory.js";
import { s3 } from "./s3.js";
import { sqlite } from "./sqlite.js";
import { transport } from "./transport.js";

export const SUITES: readonly Suite[] = [transport, memory, file, sqlite, s3];
