/**
 * A disk file: one SQLite database holding any number of named disks (see
 * schema.ts for its layout).
 *
 * CONTRACT
 * - `DiskFile.open` opens or creates the file, checks its schema version and
 *   takes an exclusive lock on it that lasts until `close` (or the process
 *   ends): a second process, another nbdkit or `nbdts-sqlite`, fails to open
 *   it with a message that says the file is in use. The lock is SQLite's own
 *   (`PRAGMA locking_mode = EXCLUSIVE`), so the operating system drops it when
 *   the process dies, even by SIGKILL.
 * - The journal is a write-ahead log (WAL). Writes go into one long
 *   transaction, the *batch*. `commit` ends it: what it wrote then survives
 *   the death of the process (the log is written, not fsynced). The batch is
 *   committed by every client flush and FUA write (`flush`, which with
 *   `sync: "full"` also fsyncs the log, so the data survives a power loss),
 *   when it holds MAX_BATCH_BYTES, MAX_BATCH_DELAY_MS after it began, when
 *   the last connection closes and at `close`.
 * - The log is copied into the database (a checkpoint) when it holds
 *   MAX_LOG_BYTES, and when writes pause for IDLE_CHECKPOINT_MS, not at every
 *   commit: a checkpoint writes the data a second time and fsyncs both files.
 * - Every method is synchronous and runs to completion before the next starts
 *   (the Node host runs one callback at a time), so each one is atomic with
 *   respect to the others without locks of its own.
 */

import { accessSync, closeSync, constants, fsyncSync, openSync, realpathSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { NbdError, type ErrnoName } from "@nbdts/sdk";
import { Disk } from "./disk.js";
import { formatSize, quote } from "./format.js";
import {
  APPLICATION_ID,
  CREATE_SCHEMA,
  PAGE_SIZE,
  SCHEMA_VERSION,
  blockTable,
  checkBlockSize,
  createBlockTable,
} from "./schema.js";
import { isSqliteError, openDatabase, primaryCode, type Database, type Statement } from "./sqlite.js";

/** One disk as the `disks` table records it. */
export interface DiskInfo {
  readonly id: number;
  readonly name: string;
  readonly size: bigint;
  readonly blockSize: number;
  /** When it was created, ISO 8601 in UTC. */
  readonly created: string;
}

/**
 * What a flush promises:
 * - `"full"`: a flush commits and fsyncs the log; flushed data survives
 *   power loss (what SQLite's `synchronous = FULL` does for every commit).
 * - `"normal"`: a flush commits without fsync; flushed data survives the
 *   death of nbdkit or Node, a power loss may lose the last flushes (the file
 *   stays consistent).
 */
export type SyncMode = "full" | "normal";

export interface OpenOptions {
  /** Create the file when it does not exist. Default true. */
  create?: boolean;
  /** See {@link SyncMode}. Default "full". */
  sync?: SyncMode;
  /** How long to wait for another process's lock before failing, in ms. Default 2000. */
  busyTimeoutMs?: number;
  /**
   * The most the database may grow to, in bytes (SQLite's `max_page_count`);
   * a write that needs more fails with ENOSPC. The log is not counted.
   */
  maxBytes?: bigint;
}

/**
 * A problem with the disk file that its user must fix (it is missing, locked,
 * not a database, from a newer version ...). The message says what and how.
 */
export class DiskFileError extends Error {
  override readonly name = "DiskFileError";
}

/** The largest batch of written bytes before it is committed without a flush. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** How long a batch may stay open without a flush, in ms. */
export const MAX_BATCH_DELAY_MS = 1000;
/** How much committed data the log may hold before a commit copies it into the database (a checkpoint). */
export const MAX_LOG_BYTES = 512 * 1024 * 1024;
/** How long after the last commit, with no write since, the log is copied into the database, in ms. */
export const IDLE_CHECKPOINT_MS = 2000;
/** SQLite's page cache for the connection, in bytes. */
const CACHE_BYTES = 64 * 1024 * 1024;

/** The SQLite error codes and the errno a client sees for each. */
const ERRNO_OF_SQLITE: Readonly<Record<string, ErrnoName>> = {
  SQLITE_FULL: "ENOSPC",
  SQLITE_READONLY: "EROFS",
  SQLITE_NOMEM: "ENOMEM",
  SQLITE_TOOBIG: "EINVAL",
};

/** An error thrown by SQLite during a request, as the NbdError the client should see. */
export function requestError(error: unknown): unknown {
  if (!isSqliteError(error)) return error;
  const errno = ERRNO_OF_SQLITE[primaryCode(error)] ?? "EIO";
  return new NbdError(errno, `SQLite: ${error.message} (${error.code})`);
}

interface DiskRow {
  id: bigint;
  name: string;
  size: bigint;
  block_size: bigint;
  created: string;
}

function infoOf(row: DiskRow): DiskInfo {
  return Object.freeze({
    id: Number(row.id),
    name: row.name,
    size: row.size,
    blockSize: Number(row.block_size),
    created: row.created,
  });
}

export class DiskFile {
  readonly path: string;
  readonly #db: Database;
  readonly #sync: SyncMode;
  readonly #selectAll: Statement<DiskRow>;
  readonly #selectByName: Statement<DiskRow>;
  readonly #insertDisk: Statement<DiskRow>;
  readonly #begin: Statement;
  readonly #commit: Statement;
  readonly #disks = new Map<number, Disk>();

  /** Bytes written in the open batch. */
  #batchBytes = 0;
  /** Whether a write request in the open batch has completed (been acknowledged to a client). */
  #batchAcknowledged = false;
  #batchTimer: NodeJS.Timeout | undefined;
  /** Bytes committed to the log since the last checkpoint (roughly: the data written). */
  #logBytes = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  /** The write-ahead log, opened at the first flush that has to fsync it. */
  #logFd: number | undefined;
  /**
   * Why writes acknowledged since the last flush were lost (SQLite rolled the
   * batch back after an error), until a flush reports it; undefined if none were.
   */
  #lost: string | undefined;

  private constructor(path: string, db: Database, sync: SyncMode) {
    this.path = path;
    this.#db = db;
    this.#sync = sync;
    this.#selectAll = db.prepare<DiskRow>("SELECT * FROM disks ORDER BY name").safeIntegers();
    this.#selectByName = db.prepare<DiskRow>("SELECT * FROM disks WHERE name = ?").safeIntegers();
    this.#insertDisk = db
      .prepare<DiskRow>("INSERT INTO disks (name, size, block_size, created) VALUES (?, ?, ?, ?) RETURNING *")
      .safeIntegers();
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
  }

  /**
   * Opens `path`, creating it (when `create` is not false) as an empty disk
   * file, and locks it for this process. Throws a {@link DiskFileError} that
   * names the file and the problem.
   */
  static open(path: string, options: OpenOptions = {}): DiskFile {
    const create = options.create ?? true;
    const sync = options.sync ?? "full";
    const isNew = checkPath(path, create);
    let db: Database;
    try {
      db = openDatabase(path, { fileMustExist: !create, timeout: options.busyTimeoutMs ?? 2000 });
    } catch (error) {
      throw openError(path, error, isNew);
    }
    try {
      // Before the first access: no shared-memory index, and the lock, once
      // taken, is never released.
      db.pragma("locking_mode = EXCLUSIVE");
      // Refuse another application's database before changing anything in it.
      let header = readHeader(db);
      if (!header.empty) checkHeader(path, header);
      else db.pragma(`page_size = ${PAGE_SIZE}`);
      const mode = String(db.pragma("journal_mode = WAL", { simple: true }));
      if (mode !== "wal") {
        throw new DiskFileError(`${quote(path)}: SQLite could not switch it to WAL mode (it stayed in ${mode} mode)`);
      }
      // Takes the exclusive lock now, even when there is nothing to write,
      // then looks again: another process may have set the file up meanwhile.
      db.exec("BEGIN EXCLUSIVE");
      header = readHeader(db);
      if (header.empty) db.exec(CREATE_SCHEMA);
      else checkHeader(path, header);
      db.exec("COMMIT");
      // NORMAL: a commit writes the log without fsync; a flush fsyncs it
      // itself (see #syncLog). Checkpoints fsync the log before and the
      // database after, so the file stays consistent through a power loss.
      db.pragma("synchronous = NORMAL");
      if (options.maxBytes !== undefined) {
        const pageSize = BigInt(Number(db.pragma("page_size", { simple: true })));
        // SQLite's limit is 2^32−2 pages (256 TiB of 64 KiB pages).
        const pages = options.maxBytes / pageSize;
        if (pages < 1n) throw new DiskFileError(`max-size: ${options.maxBytes} bytes is less than one page (${pageSize} bytes)`);
        db.pragma(`max_page_count = ${pages < 0xfffffffen ? pages : 0xfffffffen}`);
      }
      db.pragma(`cache_size = ${-Math.floor(CACHE_BYTES / 1024)}`);
      // Checkpoints run when this class decides (#afterCommit), not on every commit.
      db.pragma("wal_autocheckpoint = 0");
      db.pragma(`journal_size_limit = ${MAX_LOG_BYTES}`);
      return new DiskFile(realpathSync(path), db, sync);
    } catch (error) {
      db.close();
      throw openError(path, error, isNew);
    }
  }

  /** Every disk in the file, by name. */
  list(): DiskInfo[] {
    return this.#selectAll.all().map(infoOf);
  }

  /** The disk called `name`, if the file has one. */
  find(name: string): DiskInfo | undefined {
    const row = this.#selectByName.get(name);
    return row === undefined ? undefined : infoOf(row);
  }

  /** The disk called `name`; throws a DiskFileError naming the disks there are if there is none. */
  get(name: string): DiskInfo {
    const info = this.find(name);
    if (info === undefined) throw new DiskFileError(this.noSuchDisk(name));
    return info;
  }

  /** A message saying that there is no disk `name`, and which disks there are. */
  noSuchDisk(name: string): string {
    const names = this.list().map((info) => quote(info.name));
    const there = names.length === 0 ? "it has no disks" : `its disks are ${names.join(", ")}`;
    return `${quote(this.path)} has no disk named ${quote(name)}: ${there}`;
  }

  /** Creates an empty disk (all zeroes) and commits. */
  create(name: string, size: bigint, blockSize: number): DiskInfo {
    const problem = checkBlockSize(blockSize);
    if (problem !== undefined) throw new RangeError(`block size ${blockSize}: ${problem}`);
    if (size < 0n || size >= 1n << 63n) throw new RangeError(`size ${size}: expected 0 to 2^63−1 bytes`);
    if (this.find(name) !== undefined) {
      throw new DiskFileError(`${quote(this.path)} already has a disk named ${quote(name)}`);
    }
    return this.#inBatch(() => {
      const created = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      const row = this.#insertDisk.get(name, size, blockSize, created)!;
      const info = infoOf(row);
      this.#db.exec(createBlockTable(info.id));
      this.commit();
      return info;
    });
  }

  /**
   * Changes a disk's size and commits. Shrinking deletes the blocks past the
   * new end and zeroes the tail of the new last block, so that growing again
   * exposes zeroes.
   */
  resize(name: string, size: bigint): DiskInfo {
    if (size < 0n || size >= 1n << 63n) throw new RangeError(`size ${size}: expected 0 to 2^63−1 bytes`);
    const info = this.get(name);
    return this.#inBatch(() => {
      if (size < info.size) this.disk(info).truncate(size);
      this.#db.prepare("UPDATE disks SET size = ? WHERE id = ?").run(size, info.id);
      this.#disks.delete(info.id);
      this.commit();
      return this.get(name);
    });
  }

  /** Deletes a disk and all its blocks, and commits. */
  delete(name: string): void {
    const info = this.get(name);
    this.#inBatch(() => {
      this.#db.exec(`DROP TABLE ${blockTable(info.id)}`);
      this.#db.prepare("DELETE FROM disks WHERE id = ?").run(info.id);
      this.#disks.delete(info.id);
      this.commit();
    });
  }

  /** The number of blocks a disk has stored (its allocated size is this times its block size). */
  storedBlocks(info: DiskInfo): number {
    return Number(this.#db.prepare(`SELECT count(*) FROM ${blockTable(info.id)}`).pluck().get());
  }

  /** Rebuilds the file so that the space freed by deleted blocks and disks returns to the filesystem. */
  vacuum(): void {
    this.commit();
    this.#db.exec("VACUUM");
    this.#db.pragma("wal_checkpoint(TRUNCATE)");
  }

  /** The block I/O of a disk; one object per disk, shared by its connections. */
  disk(info: DiskInfo): Disk {
    let disk = this.#disks.get(info.id);
    if (disk === undefined) {
      disk = new Disk(this.#db, info, this);
      this.#disks.set(info.id, disk);
    }
    return disk;
  }

  // ---- The batch ------------------------------------------------------------

  /**
   * Runs `write`, which changes `bytes` bytes of data, inside the open batch
   * (opening one if needed) and commits when the batch is full. If SQLite
   * fails, its error is thrown; if it rolled the whole batch back, the next
   * flush reports the loss.
   */
  write<T>(bytes: number, write: () => T): T {
    const result = this.#inBatch(write);
    this.#batchAcknowledged = true;
    this.#batchBytes += bytes;
    if (this.#batchBytes >= MAX_BATCH_BYTES) {
      this.commit();
    } else if (this.#batchTimer === undefined) {
      this.#batchTimer = setTimeout(() => this.#commitLater(), MAX_BATCH_DELAY_MS);
      this.#batchTimer.unref();
    }
    return result;
  }

  #inBatch<T>(body: () => T): T {
    if (!this.#db.inTransaction) this.#begin.run();
    try {
      return body();
    } catch (error) {
      this.#noticeRollback(error);
      throw error;
    }
  }

  /**
   * Ends the batch: what it wrote survives the death of the process (not yet
   * a power loss: see {@link flush}).
   */
  commit(): void {
    if (this.#batchTimer !== undefined) {
      clearTimeout(this.#batchTimer);
      this.#batchTimer = undefined;
    }
    if (!this.#db.inTransaction) return;
    try {
      this.#commit.run();
    } catch (error) {
      this.#noticeRollback(error);
      throw error;
    }
    this.#logBytes += this.#batchBytes;
    this.#batchBytes = 0;
    this.#batchAcknowledged = false;
    this.#afterCommit();
  }

  /**
   * A client's flush (or FUA): commits and, with `sync: "full"`, fsyncs the
   * log, so that every write acknowledged so far survives a power loss. Fails
   * with EIO once if writes acknowledged since the last flush were lost.
   */
  flush(): void {
    try {
      this.commit();
      if (this.#sync === "full") this.#syncLog();
    } catch (error) {
      // This failure is what the client learns; an earlier loss is part of it.
      this.#lost = undefined;
      throw error;
    }
    if (this.#lost !== undefined) {
      const reason = this.#lost;
      this.#lost = undefined;
      throw new NbdError("EIO", `writes since the last flush were lost: ${reason}`);
    }
  }

  /**
   * fsyncs the write-ahead log: exactly the sync that SQLite's
   * `synchronous = FULL` adds after each commit in WAL mode, done here only
   * when a client flushes rather than at every commit. Linux's fsync writes
   * back every dirty page of the file, whichever descriptor names it. The
   * log keeps its inode while the file is open (SQLite reuses and truncates
   * it, and deletes it only when the connection closes), so the descriptor
   * is opened once; the first time, the directory is synced too, so that the
   * log's name is durable.
   */
  #syncLog(): void {
    if (this.#logFd === undefined) {
      try {
        this.#logFd = openSync(`${this.path}-wal`, "r");
      } catch (error) {
        // No log yet: nothing was ever written, so nothing needs syncing.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      const dir = openSync(dirname(this.path), "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
    fsyncSync(this.#logFd);
  }

  /**
   * Copies the log into the database when it has grown past MAX_LOG_BYTES,
   * else once writes have paused for IDLE_CHECKPOINT_MS. Checkpoints are the
   * expensive part of writing (the data is written a second time and both
   * files are fsynced), so they are kept out of bursts of writes.
   */
  #afterCommit(): void {
    if (this.#logBytes >= MAX_LOG_BYTES) {
      this.#checkpoint();
      return;
    }
    if (this.#checkpointTimer !== undefined) clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      // A batch open again means writes resumed: its commit re-arms the timer.
      if (this.#db.open && !this.#db.inTransaction) this.#checkpoint();
    }, IDLE_CHECKPOINT_MS);
    this.#checkpointTimer.unref();
  }

  /**
   * A checkpoint that fails loses nothing (the data is committed in the
   * log), so its error is logged rather than thrown at the request or timer
   * that ran it; the next checkpoint, or closing the file, tries again.
   */
  #checkpoint(): void {
    if (this.#checkpointTimer !== undefined) {
      clearTimeout(this.#checkpointTimer);
      this.#checkpointTimer = undefined;
    }
    try {
      this.#db.pragma("wal_checkpoint(PASSIVE)");
      this.#logBytes = 0;
    } catch (error) {
      console.error(`sqlite: copying the log of ${this.path} into the database failed: ${String(error)}`);
    }
  }

  #commitLater(): void {
    this.#batchTimer = undefined;
    try {
      this.commit();
    } catch (error) {
      // No request waits for this commit: log it. If SQLite rolled the batch
      // back, the next flush fails (commit noted it); if not, it retries.
      console.error(`sqlite: committing writes to ${this.path} failed: ${String(error)}`);
    }
  }

  /**
   * After a failed statement. SQLite may roll back the whole batch, not just
   * the statement (it does for SQLITE_FULL): if writes that clients were told
   * had completed went with it, the next flush must say so.
   */
  #noticeRollback(error: unknown): void {
    if (this.#db.inTransaction) return;
    if (this.#batchAcknowledged) {
      this.#lost ??= `SQLite rolled back the uncommitted writes after an error: ${String(error)}`;
    }
    this.#batchBytes = 0;
    this.#batchAcknowledged = false;
  }

  /**
   * Commits, copies the log into the database and closes the file, which
   * deletes the log and releases the lock.
   */
  close(): void {
    if (!this.#db.open) return;
    try {
      this.commit();
    } finally {
      if (this.#checkpointTimer !== undefined) clearTimeout(this.#checkpointTimer);
      if (this.#logFd !== undefined) closeSync(this.#logFd);
      this.#logFd = undefined;
      this.#db.close();
    }
  }
}

// ---- Opening --------------------------------------------------------------

/**
 * Checks before SQLite tries, so that the usual mistakes get a message that
 * names the cause. Returns whether the file is about to be created.
 */
function checkPath(path: string, create: boolean): boolean {
  let exists = true;
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) throw new DiskFileError(`${quote(path)} is a directory: give the path of a database file`);
  } catch (error) {
    if (error instanceof DiskFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new DiskFileError(`cannot use ${quote(path)}: ${(error as Error).message}`);
    exists = false;
  }
  const dir = dirname(path);
  if (!exists) {
    if (!create) throw new DiskFileError(`${quote(path)} does not exist`);
    try {
      if (!statSync(dir).isDirectory()) throw new DiskFileError(`cannot create ${quote(path)}: ${quote(dir)} is not a directory`);
    } catch (error) {
      if (error instanceof DiskFileError) throw error;
      throw new DiskFileError(`cannot create ${quote(path)}: the directory ${quote(dir)} does not exist; create it first`);
    }
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new DiskFileError(
      exists
        ? `cannot use ${quote(path)}: its directory ${quote(dir)} is not writable, and SQLite keeps its write-ahead log next to the database`
        : `cannot create ${quote(path)}: the directory ${quote(dir)} is not writable`,
    );
  }
  if (exists) {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
    } catch {
      throw new DiskFileError(`cannot use ${quote(path)}: it is not readable and writable by this user`);
    }
  }
  return !exists;
}

/** What identifies a database: its application id, schema version and tables. */
interface Header {
  applicationId: number;
  version: number;
  tables: string[];
  /** A database with nothing in it yet (a new file): it becomes a disk file. */
  empty: boolean;
}

function readHeader(db: Database): Header {
  const applicationId = Number(db.pragma("application_id", { simple: true }));
  const version = Number(db.pragma("user_version", { simple: true }));
  const tables = db.prepare<string>("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all();
  return { applicationId, version, tables, empty: applicationId === 0 && version === 0 && tables.length === 0 };
}

/** Refuses a database that is not a disk file of a version this code knows. */
function checkHeader(path: string, { applicationId, version, tables }: Header): void {
  if (applicationId !== APPLICATION_ID) {
    const whose =
      applicationId === 0
        ? `it has tables ${tables.slice(0, 5).map(quote).join(", ")}${tables.length > 5 ? ", ..." : ""}`
        : `its application_id is 0x${(applicationId >>> 0).toString(16)}`;
    throw new DiskFileError(
      `${quote(path)} is a SQLite database of another application (${whose}), not a disk file of @nbdts/sqlite ` +
        `(application_id 0x${APPLICATION_ID.toString(16)}); give a new file name or a file made by @nbdts/sqlite`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new DiskFileError(
      `${quote(path)} has schema version ${version}, newer than this @nbdts/sqlite understands (${SCHEMA_VERSION}): ` +
        `upgrade @nbdts/sqlite to use it`,
    );
  }
  if (version < 1) {
    throw new DiskFileError(`${quote(path)} has the application_id of a disk file but no schema version: it is damaged`);
  }
}

/** The message for an error while opening: a DiskFileError as it is, SQLite's errors explained. */
function openError(path: string, error: unknown, isNew: boolean): DiskFileError {
  if (error instanceof DiskFileError) return error;
  if (isSqliteError(error)) {
    switch (primaryCode(error)) {
      case "SQLITE_BUSY":
      case "SQLITE_LOCKED":
        return new DiskFileError(
          `${quote(path)} is in use by another process (another nbdkit serving it, or nbdts-sqlite): ` +
            `SQLite could not lock it (${error.message}); stop that process first`,
        );
      case "SQLITE_NOTADB":
        return new DiskFileError(
          `${quote(path)} is not a SQLite database (SQLite: ${error.message}); give a new file name or a file made by @nbdts/sqlite`,
        );
      case "SQLITE_CANTOPEN":
        return new DiskFileError(`cannot ${isNew ? "create" : "open"} ${quote(path)}: ${osReason(path, isNew) ?? error.message}`);
      case "SQLITE_READONLY":
        return new DiskFileError(`cannot write to ${quote(path)}: ${error.message}; the file and its directory must be writable`);
      case "SQLITE_CORRUPT":
        return new DiskFileError(`${quote(path)} is damaged (SQLite: ${error.message})`);
      default:
        return new DiskFileError(`cannot open ${quote(path)}: SQLite: ${error.message} (${error.code})`);
    }
  }
  return new DiskFileError(`cannot open ${quote(path)}: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * SQLite says only "unable to open database file"; the operating system says
 * why. Tries the same open and reports its error, removing a file this
 * created.
 */
function osReason(path: string, isNew: boolean): string | undefined {
  try {
    closeSync(openSync(path, isNew ? "wx" : "r+"));
    if (isNew) unlinkSync(path);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A description of a disk for people: its size, block size and creation time. */
export function describeDisk(info: DiskInfo): string {
  return `${formatSize(info.size)} disk, block size ${formatSize(info.blockSize)}, created ${info.created}`;
}
