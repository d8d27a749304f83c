import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { encodeQR } from 'qr';
import { ConfigurationError, ValidationError } from '../errors.ts';
import { templatesDir } from './paths.ts';
import { ASSET_KEYS, type AssetKey } from './template-engine.ts';

/**
 * Images are inlined as data URIs before printing: the page itself never fetches. A template's
 * asset reference is either a file under templates/ ("templates/default/assets/logo.svg"), an
 * object in the bucket ("s3://bucket/key", fetched by an injected loader: the domain knows no
 * AWS SDK), or already a data: URI.
 */
export interface AssetObject {
  contentType: string;
  body: Uint8Array;
}

/**
 * Fetches "s3://bucket/key" references; wired to S3 by the caller. A reference naming no object
 * it may read throws AssetNotReadableError.
 */
export type AssetLoader = (ref: string) => Promise<AssetObject>;

/**
 * The object a reference names does not exist, may not be read, or is not an image this renderer
 * takes (its Content-Type is not one of TYPES, or it is over MAX_ASSET_BYTES). For generate a
 * configuration error (an operator uploads the logo again, with its image type or smaller, or
 * fixes the role; the certificate waits without using up its attempts, where a permanent error
 * made every certificate of the course dead at its first attempt). The preview route answers it
 * as the caller's 400 instead: there the reference is the draft being tried out, and nothing is
 * retried. `ref` is the reference exactly as given.
 */
export class AssetNotReadableError extends ConfigurationError {
  constructor(
    readonly ref: string,
    message: string,
    dependency: string,
    /** What is wrong with an object that was read (its type, its size), for the preview's 400. */
    readonly problem?: string,
  ) {
    super(message, dependency);
  }
}

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.webp': 'image/webp',
};
const ALLOWED_TYPES = new Set(Object.values(TYPES));
/** The most an image asset may be: every one is inlined as base64 into each printed page. */
export const MAX_ASSET_BYTES = 2 * 1024 * 1024;

/**
 * A bucket asset over MAX_ASSET_BYTES; `bytes` is its size. One error for both places that find
 * it (a loader from the object's Content-Length before reading it, loadOne from the body).
 */
export function assetTooLargeError(ref: string, bytes: number): AssetNotReadableError {
  const problem = `is ${bytes} bytes, more than the ${MAX_ASSET_BYTES} an asset may be`;
  return new AssetNotReadableError(ref, `template asset ${ref} ${problem}`, 's3', problem);
}

export const DEFAULT_ASSETS: Partial<Record<AssetKey, string>> = {
  logo: 'templates/default/assets/logo.svg',
  signature: 'templates/default/assets/signature.svg',
};

export type AssetRefs = Partial<Record<AssetKey, string>>;

/** Checks an asset map before a template is saved. */
export function validateAssetRefs(assets: unknown): AssetRefs {
  if (assets === undefined || assets === null) return {};
  if (typeof assets !== 'object' || Array.isArray(assets))
    throw new ValidationError('assets must be an object', 'assets');
  const result: AssetRefs = {};
  for (const [key, ref] of Object.entries(assets)) {
    if (!(ASSET_KEYS as readonly string[]).includes(key))
      throw new ValidationError(`unknown asset "${key}"; allowed: ${ASSET_KEYS.join(', ')}`, 'assets');
    if (
      typeof ref !== 'string' ||
      !/^(templates\/[A-Za-z0-9._/-]+|s3:\/\/[a-z0-9.-]+\/template-assets\/.+|data:image\/(png|jpeg|svg\+xml|webp);base64,[A-Za-z0-9+/=]+)$/.test(
        ref,
      )
    )
      // template-assets/ is the one folder of the bucket the functions may read (serverless.yml).
      throw new ValidationError(
        `asset "${key}" must be templates/..., s3://<certificates bucket>/template-assets/... or a base64 image data URI`,
        'assets',
      );
    if (ref.startsWith('templates/') && ref.split('/').includes('..'))
      throw new ValidationError(`asset "${key}" must stay inside templates/`, 'assets');
    // Inlined into every printed page as a bucket or file asset is: held to the same size.
    if (ref.startsWith('data:')) {
      const encoded = ref.slice(ref.indexOf(',') + 1);
      const bytes = Math.floor((encoded.replace(/=+$/, '').length * 3) / 4);
      if (bytes > MAX_ASSET_BYTES)
        throw new ValidationError(
          `asset "${key}" is ${bytes} bytes, more than ${MAX_ASSET_BYTES} (every image is inlined into each printed page)`,
          'assets',
        );
    }
    result[key as AssetKey] = ref;
  }
  return result;
}

/**
 * A bucket asset that cannot be used, as the answer to whoever chose it (a preview, a save): their
 * reference and what is wrong with it. For generate the same error is an operator's configuration
 * problem, retried later; for them, retrying cannot help.
 */
export function assetRefusal(error: AssetNotReadableError): ValidationError {
  return new ValidationError(
    error.problem ? `asset ${error.ref} ${error.problem}` : `asset not found or not readable: ${error.ref}`,
    'assets',
  );
}

const fileCache = new Map<string, Promise<string>>();

function toDataUri(contentType: string, body: Uint8Array): string {
  return `data:${contentType};base64,${Buffer.from(body).toString('base64')}`;
}

async function loadTemplateFile(ref: string): Promise<string> {
  const root = templatesDir();
  const path = normalize(join(root, ref.slice('templates/'.length)));
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new ValidationError(`asset ${ref} is outside templates/`, 'assets');
  const type = TYPES[extname(path).toLowerCase()];
  if (!type) throw new ValidationError(`asset ${ref} is not a PNG, JPEG, SVG or WebP image`, 'assets');
  return toDataUri(type, await readFile(path));
}

async function loadOne(ref: string, loader: AssetLoader | undefined): Promise<string> {
  if (ref.startsWith('data:')) return ref;
  if (ref.startsWith('templates/')) {
    let cached = fileCache.get(ref);
    if (!cached) {
      cached = loadTemplateFile(ref);
      fileCache.set(ref, cached);
      cached.catch(() => fileCache.delete(ref));
    }
    return cached;
  }
  if (!loader) throw new ValidationError(`asset ${ref} needs a bucket loader`, 'assets');
  // A bucket object: what is wrong with it an operator fixes in the bucket (AssetNotReadableError).
  const object = await loader(ref);
  const type = object.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!ALLOWED_TYPES.has(type)) {
    const problem = `has type ${type}, not an image (${[...ALLOWED_TYPES].join(', ')})`;
    throw new AssetNotReadableError(
      ref,
      `template asset ${ref} ${problem}: upload it again with its image Content-Type`,
      's3',
      problem,
    );
  }
  if (object.body.byteLength > MAX_ASSET_BYTES) throw assetTooLargeError(ref, object.body.byteLength);
  return toDataUri(type, object.body);
}

/** Every asset key mapped to a data URI, or null when the template has none. */
export async function inlineAssets(
  refs: AssetRefs,
  loader: AssetLoader | undefined,
): Promise<Record<AssetKey, string | null>> {
  const entries = await Promise.all(
    ASSET_KEYS.map(async (key) => {
      const ref = refs[key];
      return [key, ref ? await loadOne(ref, loader) : null] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<AssetKey, string | null>;
}

/**
 * Module size: 1/50 inch, exactly 3 pixels when the page is rasterised at 150 dpi (and 6 at 300).
 * Measured with jsQR on whole certificate pages at 150 dpi: codes scaled to a fixed box (27-44 mm)
 * left modules of ~2.6-3.2 px with anti-aliased edges, and about one page in ten to one in two
 * did not decode; whole-pixel modules decoded 48 of 48 (signed codes up to version 15).
 */
const MODULE_MM = 25.4 / 50;

/** A QR code as the template variables draw it: inline SVG (qr_path) or an image (qr_code). */
export interface QrCode {
  /** SVG path data of the dark modules, one unit a module, the quiet zone included in the offsets. */
  path: string;
  /** Width and height in modules, quiet zone included: the SVG viewBox is `0 0 modules modules`. */
  modules: number;
  /** Printed width and height, e.g. "21.336mm". */
  width: string;
  /** The same code as an SVG image data URI, for templates that use `<img src="{{ qr_code }}">`. */
  dataUri: string;
}

/**
 * SVG path data (nonzero fill, one unit a module) of the outlines of a matrix's dark areas: each
 * connected area is one closed path along its boundary, clockwise, and each light hole inside it
 * one path the other way round, with a point only where the outline turns.
 *
 * A filled path, not stroked lines: rasterisers anti-alias only the outline of the dark area,
 * never seams between modules, which at ~2.6 px a module turned into grey lines decoders tripped
 * on. Outlines rather than a rectangle per run of dark modules in a row: every path point is
 * an operator in the PDF's page content, which Chromium writes and compresses at each print. For
 * a ~560-byte URL (89 modules with the quiet zone) the runs made 1,638 subpaths and 22.7 KB of
 * path data, the outlines 329 and 13.7 KB. A signed certificate of the default design rendered
 * template-once in p50 36.7 instead of 39.9 ms (240 each, alternating) and its PDF went from
 * 62.4 to 54.7 KB; 100 signed codes over four layouts all decoded from the page at 150 dpi.
 * Tracing takes ~0.8 ms of Node for such a code, the runs took ~0.4 ms.
 */
export function qrOutlinePath(matrix: ReadonlyArray<ReadonlyArray<boolean>>): string {
  const size = matrix.length;
  const stride = size + 1; // grid points per row: point = y * stride + x
  const dark = (x: number, y: number): boolean => matrix[y]?.[x] === true;
  // Every side of a dark module that borders a light one (or the edge), directed so the dark
  // module is on its right: clockwise round dark areas, anticlockwise round holes. A grid point
  // starts at most two such sides (two dark modules touching only at that corner).
  const first = new Int32Array(stride * stride).fill(-1);
  const second = new Int32Array(stride * stride).fill(-1);
  const addSide = (from: number, to: number): void => {
    if (first[from] === -1) first[from] = to;
    else second[from] = to;
  };
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      if (!dark(x, y)) continue;
      const topLeft = y * stride + x;
      if (!dark(x, y - 1)) addSide(topLeft, topLeft + 1);
      if (!dark(x + 1, y)) addSide(topLeft + 1, topLeft + 1 + stride);
      if (!dark(x, y + 1)) addSide(topLeft + 1 + stride, topLeft + stride);
      if (!dark(x - 1, y)) addSide(topLeft + stride, topLeft);
    }
  }
  const takeSide = (from: number): number => {
    const side = second[from] ?? -1;
    if (side !== -1) {
      second[from] = -1;
      return side;
    }
    const only = first[from] ?? -1;
    first[from] = -1;
    return only;
  };
  // Each grid point has as many sides in as out, so a walk from a point returns to it. The first
  // point met in reading order is the top-left corner of its outline. Where two areas touch only
  // at a corner the walk may go either way: under the nonzero rule the filled area is the same
  // whichever loops the sides are grouped into.
  let path = '';
  for (let start = 0; start < first.length; start += 1) {
    while (first[start] !== -1) {
      let cornerX = start % stride;
      let cornerY = Math.floor(start / stride);
      path += `M${cornerX} ${cornerY}`;
      let at = start;
      let direction = 0;
      for (;;) {
        const next = takeSide(at);
        if (next === -1) break; // cannot happen: every point reached has a side out
        // Only the corners: a point between two steps in the same direction adds nothing.
        if (direction !== 0 && next - at !== direction) {
          const x = at % stride;
          const y = Math.floor(at / stride);
          path += x === cornerX ? `v${y - cornerY}` : `h${x - cornerX}`;
          cornerX = x;
          cornerY = y;
        }
        direction = next - at;
        at = next;
        if (at === start) break;
      }
      path += 'z';
    }
  }
  return path;
}

/**
 * QR code of the verification URL (vector: sharp in print, small in the PDF), sized by its module
 * count (a signed version-15 code is 43 mm wide, a plain URL ~23 mm). A URL carrying a signed
 * credential (~500 bytes) uses error correction L: at M it would need three more versions; a plain
 * URL keeps M. The quiet zone is the 4 modules ISO/IEC 18004 asks for.
 *
 * Encoded by `qr` (paulmillr), which scores the eight masks with word-parallel penalty rules:
 * 0.14 ms for a plain URL and 0.44 ms for a signed one here, against 1.1 and 11.4 ms with
 * `qrcode` (whose optimal mode segmentation alone took 6 ms on a signed URL; URLs are byte mode
 * either way, and the versions came out the same).
 */
export function qrCode(url: string): QrCode {
  const quiet = 4;
  // Dark modules as booleans, rows of the symbol with the quiet zone around it.
  const matrix = encodeQR(url, 'raw', {
    ecc: Buffer.byteLength(url) > 200 ? 'low' : 'medium',
    border: quiet,
  });
  const total = matrix.length;
  const path = qrOutlinePath(matrix);
  const width = `${(total * MODULE_MM).toFixed(3)}mm`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${width}" viewBox="0 0 ${total} ${total}" shape-rendering="crispEdges">` +
    `<rect width="${total}" height="${total}" fill="#ffffff"/><path fill="#1c2a45" d="${path}"/></svg>`;
  return {
    path,
    modules: total,
    width,
    dataUri: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
  };
}
