import { Socket } from "node:net";
import { NbdError } from "@nbdts/sdk";
import {
  CONTROL_DEBUG,
  CONTROL_ERROR,
  CONTROL_HEADER,
  CONTROL_MAX,
  CONTROL_PASSWORD,
  CONTROL_READ_PASSWORD,
  CONTROL_NANOSLEEP,
  CONTROL_SHUTDOWN,
  CONTROL_SLEPT,
} from "./protocol.js";

/**
 * The control socket to the shim (ring.h, "Control socket messages"): log
 * lines and requests to nbdkit go out; password replies come back. End of
 * file means nbdkit has gone.
 */
export class ControlChannel {
  readonly #socket: Socket;
  #nextId = 1;
  readonly #passwords = new Map<number, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  readonly #sleeps = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #pending: Buffer = Buffer.alloc(0);

  constructor(fd: number, onClose: () => void) {
    this.#socket = new Socket({ fd, readable: true, writable: true });
    this.#socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    this.#socket.on("end", onClose);
    this.#socket.on("close", onClose);
    this.#socket.on("error", onClose);
  }

  /** Sends a line to nbdkit's debug log (shown under `nbdkit -v`). */
  debug(message: string): void {
    this.#send(CONTROL_DEBUG, 0, Buffer.from(message));
  }

  /** Sends a line to nbdkit's error log. */
  error(message: string): void {
    this.#send(CONTROL_ERROR, 0, Buffer.from(message));
  }

  /** Asks nbdkit to shut down. */
  shutdown(): void {
    this.#send(CONTROL_SHUTDOWN, 0, Buffer.alloc(0));
  }

  /** Runs nbdkit_read_password(value) in nbdkit. */
  readPassword(value: string): Promise<string> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#passwords.set(id, { resolve, reject });
      this.#send(CONTROL_READ_PASSWORD, id, Buffer.from(value));
    });
  }

  /**
   * Runs nbdkit_nanosleep in nbdkit, on a thread of its own: it ends early
   * (ESHUTDOWN) when nbdkit shuts down. Only after .after_fork, when the
   * shim has its monitor thread.
   */
  nanosleep(seconds: number, nanoseconds: number): Promise<void> {
    const id = this.#nextId++;
    const payload = Buffer.alloc(8);
    payload.writeUInt32LE(seconds, 0);
    payload.writeUInt32LE(nanoseconds, 4);
    return new Promise((resolve, reject) => {
      this.#sleeps.set(id, { resolve, reject });
      this.#send(CONTROL_NANOSLEEP, id, payload);
    });
  }

  #send(type: number, id: number, payload: Buffer): void {
    const length = Math.min(payload.length, CONTROL_MAX);
    const head = Buffer.alloc(CONTROL_HEADER);
    head.writeUInt32LE(length, 0);
    head.writeUInt32LE(type, 4);
    head.writeUInt32LE(id, 8);
    this.#socket.write(Buffer.concat([head, payload.subarray(0, length)]));
  }

  #receive(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= CONTROL_HEADER) {
      const length = this.#pending.readUInt32LE(0);
      if (this.#pending.length < CONTROL_HEADER + length) break;
      const type = this.#pending.readUInt32LE(4);
      const id = this.#pending.readUInt32LE(8);
      const payload = this.#pending.subarray(CONTROL_HEADER, CONTROL_HEADER + length);
      this.#pending = this.#pending.subarray(CONTROL_HEADER + length);
      if (type === CONTROL_PASSWORD) this.#answerPassword(id, payload);
      else if (type === CONTROL_SLEPT) this.#answerSleep(id, payload);
    }
  }

  #answerSleep(id: number, payload: Buffer): void {
    const waiter = this.#sleeps.get(id);
    if (waiter === undefined) return;
    this.#sleeps.delete(id);
    const errno = payload.readInt32LE(0);
    if (errno === 0) waiter.resolve();
    else if (errno === 108) waiter.reject(new NbdError("ESHUTDOWN", "nanosleep: the server is shutting down"));
    else waiter.reject(new NbdError(errno, "nanosleep failed (nbdkit's message is above)"));
  }

  #answerPassword(id: number, payload: Buffer): void {
    const waiter = this.#passwords.get(id);
    if (waiter === undefined) return;
    this.#passwords.delete(id);
    const errno = payload.readInt32LE(0);
    if (errno === 0) waiter.resolve(payload.subarray(4).toString("utf8"));
    else waiter.reject(new NbdError(errno, "could not read the password (nbdkit's message is above)"));
  }
}
