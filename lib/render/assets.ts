import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { encodeQR } from 'qr';
import { ValidationError } from '../errors.ts';
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

/** Fetches "s3://bucket/key" references; wired to S3 by the caller. */
export type AssetLoader = (ref: string) => Promise<AssetObject>;

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.webp': 'image/webp',
};
const ALLOWED_TYPES = new Set(Object.values(TYPES));
const MAX_ASSET_BYTES = 2 * 1024 * 1024;

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
      !/^(templates\/[A-Za-z0-9._/-]+|s3:\/\/[a-z0-9.-]+\/.+|data:image\/(png|jpeg|svg\+xml|webp);base64,[A-Za-z0-9+/=]+)$/.test(
        ref,
      )
    )
      throw new ValidationError(
        `asset "${key}" must be templates/..., s3://bucket/key or a base64 image data URI`,
        'assets',
      );
    if (ref.startsWith('templates/') && ref.split('/').includes('..'))
      throw new ValidationError(`asset "${key}" must stay inside templates/`, 'assets');
    result[key as AssetKey] = ref;
  }
  return result;
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
  const object = await loader(ref);
  const type = object.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!ALLOWED_TYPES.has(type))
    throw new ValidationError(`asset ${ref} has type ${type}, not an image`, 'assets');
  if (object.body.byteLength > MAX_ASSET_BYTES)
    throw new ValidationError(`asset ${ref} is larger than ${MAX_ASSET_BYTES} bytes`, 'assets');
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
  // One filled path of whole-module rectangles (a run of dark modules per row), not stroked
  // lines: rasterisers then anti-alias only the outline of the dark area, never the seams
  // between rows, which at ~2.6 px a module turned into grey lines decoders tripped on.
  let path = '';
  matrix.forEach((row, y) => {
    let x = 0;
    while (x < total) {
      if (!row[x]) {
        x += 1;
        continue;
      }
      const start = x;
      while (x < total && row[x]) x += 1;
      path += `M${start} ${y}h${x - start}v1h-${x - start}z`;
    }
  });
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
