import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import QRCode from 'qrcode';
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
 * QR code of the verification URL as an SVG data URI (vector: sharp in print, small in the PDF).
 * A URL carrying a signed credential (~500 bytes) uses error correction L: at M the code would
 * need three more versions (12 more modules a side) in the same 34 mm; a plain URL keeps M.
 */
export async function qrCodeDataUri(url: string): Promise<string> {
  const svg = await QRCode.toString(url, {
    type: 'svg',
    errorCorrectionLevel: Buffer.byteLength(url) > 200 ? 'L' : 'M',
    margin: 1,
    color: { dark: '#1c2a45ff', light: '#ffffffff' },
  });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}
