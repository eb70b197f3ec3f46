import { currentRuntime } from "./runtime.js";

/**
 * Linux errno numbers by name, complete (from the kernel's asm-generic/errno
 * headers), including the names Node's `os.constants.errno` lacks, such as
 * ESHUTDOWN. nbdkit runs on Linux, so these are the numbers it expects.
 *
 * Only eight reach an NBD client (nbdkit-api.md §2.2): EPERM (also from
 * EROFS), EIO, ENOMEM, EINVAL (and every other errno), ENOSPC (also from
 * EDQUOT and EFBIG), EOVERFLOW, ENOTSUP and ESHUTDOWN.
 */
export const ERRNO = Object.freeze({
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EWOULDBLOCK: 11,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EDEADLOCK: 35,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  ENOTSUP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
} as const);

/** The name of a Linux errno. */
export type ErrnoName = keyof typeof ERRNO;

const NAMES_BY_NUMBER: ReadonlyMap<number, ErrnoName> = new Map(
  (Object.entries(ERRNO) as [ErrnoName, number][])
    .filter(([name]) => !["EWOULDBLOCK", "EDEADLOCK", "ENOTSUP"].includes(name))
    .map(([name, value]) => [value, name]),
);

/** The errno number for a name or number; throws a RangeError for anything else. */
export function errnoNumber(errno: ErrnoName | number): number {
  if (typeof errno === "number") {
    if (Number.isInteger(errno) && errno > 0 && errno < 4096) return errno;
    throw new RangeError(`invalid errno ${errno}: expected a positive integer such as 5 (EIO)`);
  }
  const value = (ERRNO as Record<string, number>)[errno];
  if (value === undefined) {
    throw new RangeError(`unknown errno name ${JSON.stringify(errno)}: expected a Linux name such as "EIO" or "ENOSPC"`);
  }
  return value;
}

/** The conventional name of an errno number (EAGAIN rather than EWOULDBLOCK), if it has one. */
export function errnoName(errno: number): ErrnoName | undefined {
  return NAMES_BY_NUMBER.get(errno);
}

/** The errno for a Node error `code` such as "ENOENT"; EIO when it is not an errno name. */
export function errnoFromCode(code: string): number {
  return (ERRNO as Record<string, number>)[code] ?? ERRNO.EIO;
}

/**
 * An error that fails an nbdkit callback with a chosen errno:
 *
 * ```ts
 * throw new NbdError("ENOSPC", "the disk is full");
 * ```
 *
 * The message goes to nbdkit's log; the errno goes to the client (mapped to
 * the few values NBD carries).
 */
export class NbdError extends Error {
  /** The errno number. */
  readonly errno: number;
  /** The errno name, e.g. "ENOSPC" (or "E" + the number for an unnamed one). */
  readonly code: string;

  constructor(errno: ErrnoName | number, message?: string, options?: ErrorOptions) {
    const value = errnoNumber(errno);
    const code = typeof errno === "string" ? errno : (errnoName(value) ?? `E${value}`);
    super(message ?? code, options);
    this.name = "NbdError";
    this.errno = value;
    this.code = code;
  }

  /**
   * "Not supported": from `zero`, asks nbdkit to fall back to writing zeroes
   * (or, for a fast-zero request, tells the client it would be slow); from
   * other callbacks, fails with ENOTSUP.
   */
  static notSupported(message = "operation not supported"): NbdError {
    return new NbdError("EOPNOTSUPP", message);
  }
}

/**
 * The errno a thrown value stands for:
 * - an {@link NbdError}: its errno;
 * - an error with an errno-name `code` (Node's SystemError, e.g. from `fs`): that errno;
 * - otherwise `fallback` if given, else the errno given to {@link setError}
 *   during the current request, if any;
 * - otherwise EIO.
 */
export function errnoOf(error: unknown, fallback?: number): number {
  if (error instanceof NbdError) return error.errno;
  if (typeof error === "object" && error !== null) {
    const record = error as { name?: unknown; errno?: unknown; code?: unknown };
    if (record.name === "NbdError" && typeof record.errno === "number" && record.errno > 0) {
      // An NbdError from another copy of the SDK.
      return record.errno;
    }
    if (typeof record.code === "string") {
      const value = (ERRNO as Record<string, number>)[record.code];
      if (value !== undefined) return value;
    }
  }
  if (fallback !== undefined && fallback !== 0) return fallback;
  if (fallback === undefined) {
    const request = currentRuntime()?.currentRequest();
    if (request !== undefined && request.errno !== 0) return request.errno;
  }
  return ERRNO.EIO;
}

/**
 * Sets the errno that the current request fails with if the callback then
 * throws an error that carries none (nbdkit_set_error). For code ported from
 * other bindings; new code throws an {@link NbdError} instead.
 */
export function setError(errno: ErrnoName | number): void {
  const request = currentRuntime()?.currentRequest();
  if (request === undefined) {
    throw new Error("setError() works only inside a callback of a plugin run by nbdkit");
  }
  request.errno = errnoNumber(errno);
}
