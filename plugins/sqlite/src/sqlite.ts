/**
 * The part of better-sqlite3's API this package uses, typed.
 *
 * better-sqlite3 ships no type declarations and the workspace has no
 * @types/better-sqlite3, so the module is loaded with `require` and given
 * these interfaces. They describe better-sqlite3 12 exactly for the calls
 * made here; everything else of its API is left out on purpose.
 */

import { createRequire } from "node:module";

/** What `Statement.run` reports. */
export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement. `Row` is the shape of a result row as this package
 * configures the statement (objects by default, arrays after `raw()`, the
 * first column after `pluck()`).
 */
export interface Statement<Row = unknown> {
  run(...params: readonly unknown[]): RunResult;
  get(...params: readonly unknown[]): Row | undefined;
  all(...params: readonly unknown[]): Row[];
  /** Rows as arrays of column values. */
  raw(toggle?: boolean): this;
  /** Rows as their first column's value. */
  pluck(toggle?: boolean): this;
  /** INTEGER columns as `bigint` rather than `number`. */
  safeIntegers(toggle?: boolean): this;
}

/** A connection to one database file. */
export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>;
  exec(sql: string): this;
  /** Runs `PRAGMA source`; with `simple`, returns the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): this;
  /** Whether a transaction is open on this connection. */
  readonly inTransaction: boolean;
  /** Whether the connection is open. */
  readonly open: boolean;
  /** The file name the connection was opened with. */
  readonly name: string;
}

export interface DatabaseOptions {
  readonly?: boolean;
  fileMustExist?: boolean;
  /** How long a statement waits for a lock held by another connection, in ms. */
  timeout?: number;
}

type DatabaseConstructor = new (filename: string, options?: DatabaseOptions) => Database;

/** An error raised by SQLite; `code` is its extended result code name, e.g. "SQLITE_BUSY". */
export interface SqliteError extends Error {
  code: string;
}

const require = createRequire(import.meta.url);
const BetterSqlite3 = require("better-sqlite3") as DatabaseConstructor;

/** Opens (or creates) a database file with better-sqlite3. */
export function openDatabase(filename: string, options: DatabaseOptions = {}): Database {
  return new BetterSqlite3(filename, options);
}

/** Whether `error` came from SQLite (better-sqlite3's SqliteError). */
export function isSqliteError(error: unknown): error is SqliteError {
  return (
    error instanceof Error &&
    error.name === "SqliteError" &&
    typeof (error as { code?: unknown }).code === "string"
  );
}

/** The primary result code of a SQLite error: "SQLITE_IOERR_WRITE" → "SQLITE_IOERR". */
export function primaryCode(error: SqliteError): string {
  const match = /^SQLITE_[A-Z]+/.exec(error.code);
  return match === null ? error.code : match[0];
}
