import { join } from "node:path";
import { packageRoot } from "./addon.js";

/** The Node host program the shim starts (it finds it the same way, relative to itself). */
export function hostScriptPath(): string {
  return join(packageRoot, "dist", "host", "main.js");
}
