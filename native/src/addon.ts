import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The native parts of @nbdts/native and where they are. Both live in
 * build/Release of the package, built by `npm run build` (node-gyp).
 */

/** The package's root directory (src/ and dist/ are one level below it). */
export const packageRoot: string = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Absolute path of the nbdkit plugin `nbdkit-ts-plugin.so`. */
export function shimPath(): string {
  return join(packageRoot, "build", "Release", "nbdkit-ts-plugin.so");
}

/** Absolute path of the addon. */
export function addonPath(): string {
  return join(packageRoot, "build", "Release", "nbdts_native.node");
}

/** The addon's functions (src/addon/ring.cc). */
export interface NativeAddon {
  attach(ringFd: number, doorbellFd: number): {
    header: ArrayBuffer;
    nslots: number;
    dataOffset: number;
    dataStride: number;
  };
  watch(onDoorbell: () => void): void;
  unwatch(): void;
  take(out: Uint32Array): number;
  idle(): boolean;
  poll(microseconds: number): boolean;
  complete(slot: number): void;
  completeMany(slots: Uint32Array, count: number): void;
  window(slot: number, length: number): ArrayBuffer | undefined;
  detach(view: Uint8Array): void;
  copyIn(slot: number, offset: number, source: Uint8Array): void;
  copyOut(slot: number, offset: number, length: number): Buffer;
  readString(slot: number, offset: number, length: number): string;
  writeString(slot: number, offset: number, text: string): number;
  closeOnExec(fd: number): void;
  readonly layout: Readonly<Record<string, number>> & { readonly ops: readonly string[] };
}

let cached: NativeAddon | undefined;

/**
 * Loads the addon, or throws an error that names the cause and the fix
 * (the addon is built, not downloaded, so a missing one means no build ran).
 */
export function loadAddon(): NativeAddon {
  if (cached !== undefined) return cached;
  const path = addonPath();
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
    return cached;
  } catch (error) {
    const cause = (error as Error).message;
    throw new Error(
      [
        `@nbdts/native: cannot load its addon for ${process.platform}-${process.arch}, Node ${process.version}.`,
        `  ${path}: ${cause}`,
        "Possible solutions:",
        "  - build it: npm run build --workspace @nbdts/native (needs g++, make, python3 and nbdkit-plugin-dev)",
        "  - after upgrading Node, rebuild it the same way: addons are built for one Node-API version",
        "  - run `npx nbdts doctor` for a full check",
      ].join("\n"),
      { cause: error },
    );
  }
}
