/**
 * Which blocks of a disk exist as objects: a sparse bitmap in pages of
 * 2^16 bits, so that a huge, mostly empty disk costs memory only where it
 * has data, and runs of present or absent blocks are found a word (32
 * blocks) or a whole missing page (65 536 blocks) at a time.
 *
 * Block numbers are non-negative safe integers.
 */

const PAGE_BITS = 16;
const PAGE_BLOCKS = 1 << PAGE_BITS;
const PAGE_WORDS = PAGE_BLOCKS >>> 5;
const FULL_WORD = 0xffffffff;

interface Page {
  readonly words: Uint32Array;
  /** How many bits are set; a page with none is removed. */
  count: number;
}

export class BlockSet {
  readonly #pages = new Map<number, Page>();
  #size = 0;

  /** How many blocks are present. */
  get size(): number {
    return this.#size;
  }

  has(block: number): boolean {
    const page = this.#pages.get(Math.floor(block / PAGE_BLOCKS));
    if (page === undefined) return false;
    const bit = block % PAGE_BLOCKS;
    return (page.words[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  add(block: number): void {
    const index = Math.floor(block / PAGE_BLOCKS);
    let page = this.#pages.get(index);
    if (page === undefined) {
      page = { words: new Uint32Array(PAGE_WORDS), count: 0 };
      this.#pages.set(index, page);
    }
    const bit = block % PAGE_BLOCKS;
    const mask = 1 << (bit & 31);
    const word = page.words[bit >>> 5]!;
    if ((word & mask) !== 0) return;
    page.words[bit >>> 5] = word | mask;
    page.count++;
    this.#size++;
  }

  delete(block: number): void {
    const index = Math.floor(block / PAGE_BLOCKS);
    const page = this.#pages.get(index);
    if (page === undefined) return;
    const bit = block % PAGE_BLOCKS;
    const mask = 1 << (bit & 31);
    const word = page.words[bit >>> 5]!;
    if ((word & mask) === 0) return;
    page.words[bit >>> 5] = word & ~mask;
    this.#size--;
    if (--page.count === 0) this.#pages.delete(index);
  }

  /**
   * The first block in [from, to) whose presence differs from `present`, or
   * `to` when every block there is `present` (present or absent). With
   * `present = has(from)` it returns the end of the run that starts at `from`.
   */
  nextChange(from: number, to: number, present: boolean): number {
    let block = from;
    while (block < to) {
      const index = Math.floor(block / PAGE_BLOCKS);
      const pageEnd = Math.min((index + 1) * PAGE_BLOCKS, to);
      const page = this.#pages.get(index);
      if (page === undefined) {
        if (present) return block;
        block = pageEnd;
        continue;
      }
      if (page.count === PAGE_BLOCKS && present) {
        block = pageEnd;
        continue;
      }
      while (block < pageEnd) {
        const bit = block % PAGE_BLOCKS;
        // Bits of this word from `bit` on that differ from `present`.
        const word = page.words[bit >>> 5]!;
        const differing = ((present ? ~word : word) & (FULL_WORD << (bit & 31))) >>> 0;
        if (differing !== 0) {
          const found = block - (bit & 31) + (31 - Math.clz32(differing & -differing));
          return Math.min(found, to);
        }
        block += 32 - (bit & 31);
      }
      block = Math.min(block, pageEnd);
    }
    return to;
  }

  /** The present blocks in ascending order (for tests and diagnostics). */
  *values(): IterableIterator<number> {
    const indexes = [...this.#pages.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      const page = this.#pages.get(index)!;
      for (let w = 0; w < PAGE_WORDS; w++) {
        let word = page.words[w]!;
        while (word !== 0) {
          const low = word & -word;
          yield index * PAGE_BLOCKS + w * 32 + (31 - Math.clz32(low));
          word = (word ^ low) >>> 0;
        }
      }
    }
  }
}
