/** How sizes and disks are shown to people: in export descriptions, the CLI and messages. */

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/**
 * A size in the largest binary unit that divides it exactly, so nothing is
 * rounded: `1073741824n` → "1 GiB", `65536n` → "64 KiB", `1536n` → "1536 bytes".
 */
export function formatSize(bytes: bigint | number): string {
  let value = BigInt(bytes);
  let unit = 0;
  while (unit < UNITS.length - 1 && value !== 0n && value % 1024n === 0n) {
    value /= 1024n;
    unit++;
  }
  if (unit === 0) return value === 1n ? "1 byte" : `${value} bytes`;
  return `${value} ${UNITS[unit]}`;
}

/** A string for messages: JSON-quoted, so that "" and names with spaces are visible. */
export function quote(text: string): string {
  return JSON.stringify(text);
}
