/**
 * The object layout of a disk, shared with nbdkit's Python S3 plugin
 * (nbdkit-S3-plugin(1)) so that a disk written by either is read by the other:
 *
 * - block n of the disk is the object `<key>/<n as 16 lowercase hex digits>`,
 *   e.g. `disk/000000000000002a`; lexical order is block order;
 * - every block object is exactly `object-size` bytes, the last one too;
 * - a missing object reads as zeroes.
 *
 * The plugin's own objects live under the same prefix with names that sort
 * after every 16-hex-digit name (they start with "n", above "f"), because
 * the Python plugin's trim deletes whatever it lists below its last block.
 */

/** Digits of a block number in an object name. */
export const BLOCK_DIGITS = 16;

const BLOCK_NAME = /^[0-9a-f]{16}$/;

/** The prefix of every object of the disk stored under `key`: `<key>/`. */
export function diskPrefix(key: string): string {
  return `${key}/`;
}

/** The object that holds block `block` of the disk under `key`. */
export function blockKey(key: string, block: number): string {
  return `${key}/${block.toString(16).padStart(BLOCK_DIGITS, "0")}`;
}

/**
 * The block number an object name under `prefix` stands for, or undefined
 * when the name is not a block (the writer lock, a foreign object). Numbers
 * above 2^53 lose precision, which is harmless: no disk has that many blocks.
 */
export function parseBlockKey(prefix: string, objectKey: string): number | undefined {
  if (!objectKey.startsWith(prefix)) return undefined;
  const name = objectKey.slice(prefix.length);
  if (!BLOCK_NAME.test(name)) return undefined;
  return Number.parseInt(name, 16);
}

/** The writer lock object of the disk under `key` (sorts after every block name). */
export function lockKey(key: string): string {
  return `${key}/nbdts.lock`;
}

/** One object's share of a request: which block, where in it, where in the request. */
export interface Piece {
  /** The block number. */
  readonly block: number;
  /** Offset of the piece inside the object. */
  readonly start: number;
  /** Length of the piece in bytes (1 to the object size). */
  readonly length: number;
  /** Offset of the piece inside the request's buffer. */
  readonly at: number;
}

/**
 * Splits the byte range [offset, offset + count) of a disk made of objects
 * of `objectSize` bytes into one piece per object it touches, in order.
 */
export function splitRange(offset: bigint, count: number, objectSize: number): Piece[] {
  const pieces: Piece[] = [];
  if (count <= 0) return pieces;
  const size = BigInt(objectSize);
  let block = Number(offset / size);
  let start = Number(offset % size);
  let at = 0;
  while (at < count) {
    const length = Math.min(objectSize - start, count - at);
    pieces.push({ block, start, length, at });
    at += length;
    block++;
    start = 0;
  }
  return pieces;
}
