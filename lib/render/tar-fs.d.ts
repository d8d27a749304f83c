// tar-fs ships no types; this covers the part lib/render/chromium-binary.ts uses.
declare module 'tar-fs' {
  import type { Writable } from 'node:stream';

  export function extract(directory: string): Writable;
}
