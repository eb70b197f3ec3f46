/**
 * @nbdts/native: the native loader that lets nbdkit run TypeScript plugins.
 *
 * - `nbdkit-ts-plugin.so` ({@link shimPath}) is the nbdkit plugin; it starts
 *   the Node host (dist/host/main.js) and talks to it over shared memory.
 * - The `nbdts` command prints the shim's path, links it into nbdkit's plugin
 *   directory, and checks an installation (`nbdts doctor`).
 * - `@nbdts/native/testing` runs plugins under real nbdkit in tests.
 */
export { shimPath, addonPath, packageRoot, loadAddon, type NativeAddon } from "./addon.js";
export { hostScriptPath } from "./paths.js";
