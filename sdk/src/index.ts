/**
 * @nbdts/sdk: write nbdkit plugins in TypeScript.
 *
 * Everything nbdkit's OCaml `NBDKit` module offers, in idiomatic TypeScript:
 * the plugin definition, value types, errors, nbdkit's parsers and server
 * functions, and typed parameters. See README.md for the manual.
 */
export * from "./types.js";
export { CALLBACKS, REQUIRED_CALLBACKS, type CallbackInfo, type CallbackName } from "./callbacks.js";
export { definePlugin, isPlugin, definedCallbacks, PLUGIN_BRAND, type Plugin, type PluginSpec } from "./plugin.js";
export { ERRNO, NbdError, errnoNumber, errnoName, errnoFromCode, errnoOf, setError, type ErrnoName } from "./errors.js";
export {
  parseSize,
  parseBool,
  parseInt,
  parseUnsigned,
  parseInt8,
  parseUint8,
  parseInt16,
  parseUint16,
  parseInt32,
  parseUint32,
  parseInt64,
  parseUint64,
} from "./parse.js";
export { readPassword } from "./password.js";
export {
  params,
  ParamParser,
  ConfigError,
  type ParamSpec,
  type ParamSchema,
  type ParsedParams,
  type ParamOptions,
  type ParamParserOptions,
  type ParamBuilder,
  type StringParamOptions,
  type IntParamOptions,
  type PathParamOptions,
  type OneOfBuilder,
  type OneOfParamOptions,
  type PasswordBuilder,
  type PasswordParamOptions,
} from "./params.js";
export {
  API_VERSION,
  debug,
  version,
  apiVersion,
  exportName,
  isTls,
  peerPid,
  peerUid,
  peerGid,
  shutdown,
  disconnect,
  nanosleep,
  stdioSafe,
  absolutePath,
  realpath,
} from "./server.js";
export {
  installRuntime,
  currentRuntime,
  type Runtime,
  type RequestContext,
  type ConnectionContext,
} from "./runtime.js";
