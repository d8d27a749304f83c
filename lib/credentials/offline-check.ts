import { createHash } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { z } from 'zod';
import type { CertificateFacts } from '../certificates/facts.ts';
import { BIDI_CONTROLS } from '../certificates/text.ts';
import {
  type CredentialCheck,
  type CredentialClaims,
  factsMatch,
  isIssuersCutOf,
  verifyCredential,
} from './credential.ts';
import { type PublishedKey, parseJwks, thumbprintOfKid } from './jwks.ts';
import { jwkThumbprint, type SigningAlgorithm } from './keys.ts';
import { type PageTextReader, pageFinding } from './page-text.ts';
import { readPdfAttachments } from './pdf-attachments.ts';
import { decodeStatusList, epochSeconds, getBit } from './status-list.ts';

/**
 * `npm run verify`: checks a certificate PDF (its embedded credential) or a verification URL
 * (the JWS in its fragment) against the issuer's JWKS. With a JWKS file and a PDF it needs no
 * network at all: the signature proves the facts were issued by the key's holder; whether the
 * certificate was revoked since needs the live status (fetched only when the network is used).
 *
 * Who the issuer is comes from the person checking, never from the document: a PDF is checked
 * against the key set `--jwks` names (a PDF could otherwise point at its forger's keys), and a
 * URL against the keys of the host it names, which the report prints. When the network is in
 * use, a status that cannot be established (no address on the issuer's origin for this code,
 * an answer that cannot be fetched or is about another certificate, a status list that does
 * not check out) makes the outcome "could not check", not "valid".
 *
 * A PDF's page is compared with the signed facts through its text layer when the caller can read
 * it (the `pageText` port: scripts/verify-worker.ts reads it with pdf.js, and the /ActualText Chromium
 * writes for Arabic and Devanagari): a page edited to show another name does not name the signed
 * student. What is drawn can still differ from the text layer.
 *
 * Exit codes: 0 valid, 1 invalid, 2 could not check.
 */

export const CREDENTIAL_ATTACHMENT = 'certificate.jwt';
export const FACTS_ATTACHMENT = 'certificate-facts.json';
/** The certificate's Open Badges 3.0 credential (VC-JWT), for wallets. */
export const OPEN_BADGE_ATTACHMENT = 'open-badge.jwt';
const JWKS_PATH = '/.well-known/jwks.json';

export type Outcome = 'valid' | 'invalid' | 'unchecked';
export const EXIT_CODES: Record<Outcome, 0 | 1 | 2> = { valid: 0, invalid: 1, unchecked: 2 };

export interface CheckIo {
  readFile(path: string): Promise<Uint8Array>;
  /** Absent: network-free run (any need for it is "could not check"). */
  fetch?: (url: string, init?: { headers?: Record<string, string> }) => Promise<Response>;
  /** The clock for expiry (default: now). */
  now?: () => Date;
  /**
   * The text of each page of a PDF, in reading order as far as the reader can tell, one line of
   * the page a line of text (the dates are read by their labels' lines, page-dates.ts; spacing
   * does not matter); rejects when the PDF cannot be read. scripts/verify-worker.ts reads it with
   * pdf.js (scripts/pdf-page-text.ts), a devDependency lib/ must not import. Absent: the page is
   * not read, and the report says so.
   */
  pageText?: PageTextReader;
  /**
   * Whether `pageText` gives the letters of SHAPED_SCRIPTS (page-text.ts) back as the page prints them: from the
   * /ActualText Chromium writes for their shaped glyphs, and from there only. Their glyphs' own
   * Unicode, which is what pdf.js reads, drops and confuses letters ("किरण" reads as "करण", a
   * final ة as ه), so a reader that also passes that on would let another name through.
   * scripts/verify-worker.ts's reader does this (scripts/pdf-page-text.ts). Absent: names and courses in
   * those scripts are not compared, and the report says so.
   */
  pageTextReadsShaped?: boolean;
}

export interface CheckReport {
  outcome: Outcome;
  /** One line per finding, for people. */
  lines: string[];
}

const factsFile = z.object({
  verifyUrl: z.string(),
  facts: z.object({
    code: z.string(),
    name: z.string(),
    course: z.string(),
    score: z.string(),
    issued: z.string(),
    expires: z.string().nullable().optional(),
    issuer: z.string(),
  }),
});
const liveStatus = z.object({
  // Required: an answer that does not say which certificate it is about is not about this one.
  verificationCode: z.string(),
  status: z.string(),
  revokedAt: z.string().nullable().optional(),
  // The code of the certificate that replaced a superseded one.
  supersededBy: z.string().nullable().optional(),
  // The SHA-256 (hex) of the PDF as issued; absent from issuers that do not publish it.
  pdfSha256: z.string().nullable().optional(),
  // The record's facts (the name is null once the holder's details were erased): compared with
  // the signed ones, which a stolen key could sign for a real code.
  studentName: z.string().nullable().optional(),
  courseTitle: z.string().optional(),
  issuedOn: z.string().nullable().optional(),
  // Valid by its record, but signed (the QR code's facts or the PDF's Open Badge) with a key the
  // issuer reports compromised since: the issuer's own page says this copy cannot be trusted.
  signedWithRevokedKey: z.boolean().optional(),
});
const VC_V2_CONTEXT = 'https://www.w3.org/ns/credentials/v2';
const statusListShape = z.looseObject({
  // VC Data Model 2.0 §4.3: "The value of the @context property MUST be an ordered set where the
  // first item is a URL with the value https://www.w3.org/ns/credentials/v2".
  '@context': z
    .array(z.unknown())
    .refine((context) => context[0] === VC_V2_CONTEXT, `the first @context must be ${VC_V2_CONTEXT}`),
  id: z.string(),
  type: z.array(z.string()),
  validUntil: z.string().optional(),
  // The JWT's own expiry (RFC 7519 §4.1.4), checked too: a list may carry `exp` alone.
  exp: z.number().optional(),
  // Bitstring Status List: the list's statusPurpose "MUST be one or more strings".
  credentialSubject: z.looseObject({
    // §2.2: the subject's type "MUST be BitstringStatusList".
    type: z.literal('BitstringStatusList'),
    statusPurpose: z.union([z.string(), z.array(z.string()).min(1)]),
    encodedList: z.string(),
  }),
});

/** Codes are matched as the issuer matches them: case-insensitively. */
const sameCode = (a: string, b: string): boolean => a.toUpperCase() === b.toUpperCase();

/** Whether a URL's path ends in the given code (its last segment, percent-decoded). */
function pathNamesCode(url: URL, code: string): boolean {
  const last = url.pathname.split('/').at(-1) ?? '';
  try {
    return sameCode(decodeURIComponent(last), code);
  } catch {
    return false;
  }
}

class CannotCheck extends Error {}

/**
 * The most this checker reads from any answer (a key set, a status list, a live status): real
 * ones are kilobytes; a host named in a forged link may answer without end.
 */
export const MAX_FETCHED_BYTES = 4 * 1024 * 1024;

async function boundedBody(response: Response): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_FETCHED_BYTES) {
    await response.body?.cancel();
    throw new Error(`the answer is ${declared} bytes, more than ${MAX_FETCHED_BYTES}`);
  }
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_FETCHED_BYTES) {
      await reader.cancel();
      throw new Error(`the answer is more than ${MAX_FETCHED_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** An http(s) URL that parses: every `new URL` below is behind this, whatever a forged file says. */
function isUrl(value: string): boolean {
  return /^https?:\/\//i.test(value) && URL.canParse(value);
}

async function readSource(source: string, io: CheckIo, what: string): Promise<Uint8Array> {
  try {
    if (!isUrl(source)) return await io.readFile(source);
    if (!io.fetch) throw new Error('network disabled');
    const response = await io.fetch(source, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await boundedBody(response);
  } catch (error) {
    throw new CannotCheck(
      `could not read the ${what} (${source}): ${error instanceof Error ? error.message : error}`,
    );
  }
}

function describeClaims(claims: CredentialClaims): string[] {
  return [
    `  Name:        ${claims.n}`,
    `  Course:      ${claims.t}`,
    `  Score:       ${claims.s}`,
    `  Issued:      ${claims.d}${claims.x ? `   Expires on: ${claims.x}` : ''}`,
    `  Issuer:      ${claims.i}`,
    `  Code:        ${claims.c}`,
  ];
}

function describeFacts(facts: CertificateFacts): string[] {
  return [
    `  Name:        ${facts.name}`,
    `  Course:      ${facts.course}`,
    `  Score:       ${facts.score}`,
    `  Issued:      ${facts.issued}${facts.expires ? `   Expires on: ${facts.expires}` : ''}`,
    `  Issuer:      ${facts.issuer}`,
    `  Code:        ${facts.code}`,
  ];
}

function signatureFinding(check: CredentialCheck): { ok: boolean; line: string } {
  switch (check.verdict) {
    case 'valid':
      return { ok: true, line: `Signature: valid (ES256, key ${check.kid})` };
    case 'revoked-key':
      return {
        ok: false,
        line: `Signature: INVALID — signed with a revoked key (${check.kid}, revoked ${check.revokedAt ?? 'date unknown'})`,
      };
    default:
      return { ok: false, line: `Signature: INVALID — ${check.message}` };
  }
}

const openBadgeShape = z.looseObject({
  id: z.string(),
  type: z.array(z.string()),
  issuer: z.union([z.string(), z.looseObject({ id: z.string() })]),
  validFrom: z.string(),
  validUntil: z.string().optional(),
  credentialSubject: z.looseObject({
    id: z.string().optional(),
    achievement: z.looseObject({ name: z.string() }),
    identifier: z.array(z.looseObject({ identityHash: z.string() })).optional(),
  }),
  // A BitstringStatusListEntry as its spec requires it: statusPurpose present, statusListIndex
  // "an arbitrary size integer greater than or equal to 0, expressed as a string in base 10"
  // (anything else is a MALFORMED_VALUE_ERROR, not a number to guess at).
  credentialStatus: z
    .looseObject({
      type: z.literal('BitstringStatusListEntry'),
      statusListCredential: z.string(),
      statusListIndex: z.string().regex(/^(0|[1-9][0-9]*)$/),
      statusPurpose: z.string(),
      statusSize: z.number().optional(),
    })
    .optional(),
  // The registered claims Open Badges 3.0 maps onto the credential (§ "JWT Payload Format").
  iss: z.string().optional(),
  sub: z.string().optional(),
  jti: z.string().optional(),
  nbf: z.number().optional(),
  exp: z.number().optional(),
});

type OpenBadgePayload = z.infer<typeof openBadgeShape>;

/**
 * Open Badges 3.0, "Verify a Credential VC-JWT Signature": `iss`, `sub`, `nbf` and `jti` MUST be
 * present and match `issuer.id`, `credentialSubject.id`, `validFrom` and `id`, "if they do not
 * match, the credential is not valid"; `exp`, when present, is `validUntil`. What is wrong, or
 * undefined when they agree.
 */
function claimsMismatch(credential: OpenBadgePayload): string | undefined {
  const issuerId = typeof credential.issuer === 'string' ? credential.issuer : credential.issuer.id;
  if (credential.iss !== issuerId) return `iss ${credential.iss ?? '(missing)'} is not issuer.id ${issuerId}`;
  if (credential.sub === undefined || credential.sub !== credential.credentialSubject.id)
    return `sub ${credential.sub ?? '(missing)'} is not credentialSubject.id`;
  if (credential.jti !== credential.id)
    return `jti ${credential.jti ?? '(missing)'} is not the credential's id`;
  if (credential.nbf === undefined || credential.nbf !== epochSeconds(new Date(credential.validFrom)))
    return `nbf ${credential.nbf ?? '(missing)'} is not validFrom ${credential.validFrom}`;
  if (credential.validUntil !== undefined && credential.exp !== epochSeconds(new Date(credential.validUntil)))
    return `exp ${credential.exp ?? '(missing)'} is not validUntil ${credential.validUntil}`;
  return undefined;
}

/**
 * The file itself against the issuer's record of the PDF it issued for this code: the one check
 * that covers every byte, the page as drawn included (the text-layer check cannot see a redrawn
 * page). Any change fails it, a re-save by a PDF viewer too: the verifier should then ask for the
 * original file or scan the QR code.
 */
function fileFinding(
  pdf: Uint8Array,
  issued: string | null | undefined,
): { ok: boolean; identical: boolean; line: string } {
  const hex = createHash('sha256').update(pdf).digest('hex');
  // Not compared is not a match: the page's own verdict (a page naming someone else, more than one
  // page) then stands, as offline.
  if (!issued)
    return {
      ok: true,
      identical: false,
      line: `File: not compared (the issuer publishes no fingerprint of the PDF it issued); SHA-256 ${hex}`,
    };
  if (issued.toLowerCase() === hex)
    return {
      ok: true,
      identical: true,
      line: `File: identical to the PDF the issuer issued (SHA-256 ${hex}, as in the issuer's record)`,
    };
  return {
    ok: false,
    identical: false,
    line: `File: NOT the PDF the issuer issued for this code (SHA-256 ${hex}, the issuer's record says ${issued}): changed after issue, if only re-saved. Ask for the original file, or scan the QR code`,
  };
}

/**
 * Where the issuer's record of the signed code disagrees with what was signed, if it says: a key
 * stolen and not yet reported can sign any name for a real code, and only the record shows it.
 * The full facts a PDF carries (they matched the signature) are compared as they are; a link's
 * claims only as the issuer cuts a record's name and course. A name the issuer erased (null) is
 * not compared.
 */
function recordDisagreement(
  claims: CredentialClaims,
  record: z.infer<typeof liveStatus>,
  facts: CertificateFacts | undefined,
): string | undefined {
  const sameName = (name: string) => (facts ? facts.name === name : isIssuersCutOf(claims.n, name, 'name'));
  const sameCourse = (course: string) =>
    facts ? facts.course === course : isIssuersCutOf(claims.t, course, 'course');
  if (typeof record.studentName === 'string' && !sameName(record.studentName))
    return `the issuer's record of ${claims.c} names another student (${record.studentName})`;
  if (record.courseTitle !== undefined && !sameCourse(record.courseTitle))
    return `the issuer's record of ${claims.c} names another course (${record.courseTitle})`;
  if (typeof record.issuedOn === 'string' && record.issuedOn !== claims.d)
    return `the issuer's record of ${claims.c} says it was issued on ${record.issuedOn}`;
  return undefined;
}

/**
 * The issuer's current key set, read to learn which of the keys in the checker's own file the
 * issuer has since reported compromised: the file's keys with those marked so, and every kid the
 * issuer publishes. Undefined when it could not be read (the report says why).
 */
async function currentKeyStates(
  issuerOrigin: string,
  io: CheckIo,
  keys: readonly PublishedKey[],
  lines: string[],
): Promise<{ keys: PublishedKey[]; issuerKids: ReadonlySet<string> } | undefined> {
  const location = new URL(JWKS_PATH, issuerOrigin).toString();
  try {
    const current = await parseJwks(
      JSON.parse(new TextDecoder().decode(await readSource(location, io, 'JWKS'))),
    );
    const revoked = new Map(
      current.filter((key) => key.state === 'compromised').map((key) => [key.jwk.kid, key.revokedAt ?? null]),
    );
    lines.push(`Key state: read from the issuer's current key set (${location})`);
    return {
      keys: keys.map((key) =>
        revoked.has(key.jwk.kid)
          ? { ...key, state: 'compromised', revokedAt: revoked.get(key.jwk.kid) ?? null }
          : key,
      ),
      issuerKids: new Set(current.map((key) => key.jwk.kid)),
    };
  } catch (error) {
    lines.push(
      `Key state: COULD NOT CHECK whether the issuer has revoked a key of your file since you saved it — ${
        error instanceof CannotCheck ? error.message : `${location} is not a JWK Set`
      }`,
    );
    return undefined;
  }
}

/**
 * The issuer's live answer for the signed code, from an address on the issuer's origin whose
 * last path segment is that code (the address a PDF's facts name is not signed: it could point
 * at another certificate, or at another host).
 */
async function liveStatusOf(
  verifyUrl: string | undefined,
  code: string,
  issuerOrigin: string | undefined,
  fetchUrl: NonNullable<CheckIo['fetch']>,
  pdf: Uint8Array | undefined,
): Promise<{
  known: 'valid' | 'invalid' | 'unknown';
  line: string;
  file?: ReturnType<typeof fileFinding>;
  record?: z.infer<typeof liveStatus>;
}> {
  const url = verifyUrl && isUrl(verifyUrl) ? new URL(verifyUrl) : undefined;
  if (issuerOrigin === undefined)
    return {
      known: 'unknown',
      line: "Status: COULD NOT CHECK — keys from a file name no issuer host; pass --issuer https://<the issuer's host> (or --jwks as the issuer's URL) to read the live status",
    };
  if (!url || url.origin !== issuerOrigin || !pathNamesCode(url, code))
    return {
      known: 'unknown',
      line: `Status: COULD NOT CHECK — no verification address for code ${code} on the issuer's host (${issuerOrigin})${verifyUrl ? `; the certificate names ${verifyUrl}` : ''}`,
    };
  try {
    const response = await fetchUrl(url.toString(), { headers: { accept: 'application/json' } });
    if (response.status === 404)
      return { known: 'invalid', line: 'Status: the issuer has no record of this certificate' };
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const live = liveStatus.parse(JSON.parse(new TextDecoder().decode(await boundedBody(response))));
    if (!sameCode(live.verificationCode, code))
      return {
        known: 'unknown',
        line: `Status: COULD NOT CHECK — the issuer answered about ${live.verificationCode}, not ${code}`,
      };
    // A superseded certificate's verifier wants the one that replaced it: its page is the same
    // address with the other code (the code is the issuer's answer, so only a well-formed one).
    const successor =
      live.status === 'superseded' && live.supersededBy && /^[A-Za-z0-9-]{6,64}$/.test(live.supersededBy)
        ? ` by ${live.supersededBy} (${new URL(encodeURIComponent(live.supersededBy), new URL('.', url))})`
        : '';
    if (live.status === 'valid' && live.signedWithRevokedKey === true)
      return {
        known: 'invalid',
        line: `Status: SIGNED WITH A REVOKED KEY — valid by the issuer's record, but this copy was signed with a key the issuer reports compromised, so it cannot be trusted; a replacement is being issued (live, ${url})`,
        ...(pdf ? { file: fileFinding(pdf, live.pdfSha256) } : {}),
        record: live,
      };
    return {
      known: live.status === 'valid' ? 'valid' : 'invalid',
      line: `Status: ${live.status}${successor}${live.revokedAt ? ` (revoked ${live.revokedAt})` : ''} (live, ${url})`,
      ...(pdf ? { file: fileFinding(pdf, live.pdfSha256) } : {}),
      record: live,
    };
  } catch (error) {
    return {
      known: 'unknown',
      line: `Status: COULD NOT CHECK — ${url} did not answer (${error instanceof Error ? error.message : String(error)})`,
    };
  }
}

/**
 * Verifies a compact JWS against the published keys; the payload, or why not. The kid is the
 * key's thumbprint, or (Open Badges credentials) a key URL ending in it.
 */
async function verifiedPayload(
  jwt: string,
  keys: readonly PublishedKey[],
): Promise<
  { payload: unknown; kid: string; alg: SigningAlgorithm } | { problem: string; unknownKid?: string }
> {
  let kid: unknown;
  let alg: unknown;
  try {
    const header = decodeProtectedHeader(jwt);
    alg = header.alg;
    kid = typeof header.kid === 'string' ? thumbprintOfKid(header.kid) : header.kid;
  } catch {
    return { problem: 'not a compact JWS' };
  }
  if (alg !== 'RS256' && alg !== 'ES256') return { problem: `unexpected algorithm ${String(alg)}` };
  const entry = keys.find((key) => key.jwk.kid === kid);
  if (typeof kid !== 'string') return { problem: `no published key has kid ${String(kid)}` };
  if (!entry) return { problem: `no published key has kid ${kid}`, unknownKid: kid };
  // The key decides the algorithm, never the header (RFC 8725 §3.1): RS256 for the credentials
  // key, ES256 for the facts key (and for credentials issued before the RS256 key existed). The
  // published key's `alg` follows from its kind (parseJwks).
  const keyAlg = entry.jwk.alg;
  if (alg !== keyAlg) return { problem: `unexpected algorithm ${String(alg)} for ${keyAlg} key ${kid}` };
  if ((await jwkThumbprint(entry.jwk)) !== kid)
    return { problem: `key ${kid} does not match its thumbprint` };
  if (entry.state === 'compromised') return { problem: `signed with a revoked key (${kid})` };
  try {
    const key = await importJWK({ ...entry.jwk, alg: keyAlg }, keyAlg);
    const { payload } = await compactVerify(jwt, key, { algorithms: [keyAlg] });
    return { payload: JSON.parse(new TextDecoder().decode(payload)) as unknown, kid, alg: keyAlg };
  } catch {
    return { problem: 'the signature does not match' };
  }
}

/**
 * The PDF's Open Badges credential: signed by a published key, about the same certificate (code,
 * name, course) and, when the network is in use, its status-list entry resolved the way a wallet
 * resolves it (the signed list fetched and its bit read).
 */
/** The PDF's Open Badges credential, its signature checked with `keys`, or why it is not one. */
async function signedOpenBadge(
  jwt: string,
  keys: readonly PublishedKey[],
): Promise<
  | { credential: z.infer<typeof openBadgeShape>; alg: SigningAlgorithm; kid: string }
  | { problem: string; unknownKid?: string }
> {
  const verified = await verifiedPayload(jwt.trim(), keys);
  if ('problem' in verified) return verified;
  const parsed = openBadgeShape.safeParse(verified.payload);
  if (!parsed.success || !parsed.data.type.includes('OpenBadgeCredential')) {
    const where = parsed.success ? 'type' : (parsed.error.issues[0]?.path.join('.') ?? '');
    return {
      problem: `the signed payload is not an OpenBadgeCredential (${where} is missing or malformed)`,
    };
  }
  return { credential: parsed.data, alg: verified.alg, kid: verified.kid };
}

/** The printed name an Open Badges credential states for its holder (its IdentityObject). */
const holderName = (credential: z.infer<typeof openBadgeShape>): string | undefined =>
  credential.credentialSubject.identifier?.[0]?.identityHash;

/**
 * The facts in full, from the PDF's Open Badge, when its facts file is missing or damaged. The
 * badge is the issuer's (its signature is checked with the same keys) and states the name, the
 * course and the issuer uncut; the other facts are the signed claims'. They count only when the
 * credential's `h` confirms them. Without them, a name longer than its claim's budget is known only
 * up to its cut: a page naming anyone who shares those first bytes (a family name, a patronymic)
 * would pass a comparison with it.
 */
async function factsFromOpenBadge(
  jwt: string,
  keys: readonly PublishedKey[],
  claims: CredentialClaims,
): Promise<CertificateFacts | undefined> {
  const badge = await signedOpenBadge(jwt, keys);
  if ('problem' in badge) return undefined;
  const { credentialSubject, issuer } = badge.credential;
  const name = holderName(badge.credential);
  const issuerName = typeof issuer === 'object' ? issuer.name : undefined;
  if (name === undefined || typeof issuerName !== 'string') return undefined;
  const facts: CertificateFacts = {
    code: claims.c,
    name,
    course: credentialSubject.achievement.name,
    score: claims.s,
    issued: claims.d,
    expires: claims.x ?? null,
    issuer: issuerName,
  };
  return (await factsMatch(claims, facts)) ? facts : undefined;
}

/** Whether a signed claim is a cut of a longer value (see cutToBytes): only its start is known. */
const isCut = (claim: string): boolean => claim.endsWith('…');

/** Where the keys came from: a saved file is the checker's copy, perhaps older than the badge. */
interface KeySource {
  /** The file's path, when the keys were read from one. */
  file?: string;
  /** The issuer's current set, read online beside a file: the kids it publishes. */
  issuerKids?: ReadonlySet<string>;
  /** Where the issuer's current set is, for the message. */
  currentSet: string;
}

async function checkOpenBadge(
  jwt: string,
  keys: readonly PublishedKey[],
  expected: { code: string; name?: string; course?: string },
  io: CheckIo,
  source: KeySource,
): Promise<{ ok: boolean; lines: string[]; statusResolved: boolean; unchecked?: boolean }> {
  const verified = await signedOpenBadge(jwt, keys);
  // The two keys rotate apart: a badge signed by a credentials key newer than the saved file is
  // not invalid, only not checkable with it (as for the facts' signature).
  const { unknownKid } = 'problem' in verified ? verified : { unknownKid: undefined };
  if (unknownKid !== undefined && source.file !== undefined && source.issuerKids?.has(unknownKid) !== false)
    return {
      ok: true,
      unchecked: true,
      statusResolved: false,
      lines: [
        source.issuerKids
          ? `Open Badge: COULD NOT CHECK — your key set (${source.file}) has no key ${unknownKid}, which the issuer's current set (${source.currentSet}) publishes: save that set again and check once more`
          : `Open Badge: COULD NOT CHECK — your key set (${source.file}) has no key ${unknownKid}. Keys the issuer added after you saved it are not in it: fetch its current set (${source.currentSet}) again and check once more`,
      ],
    };
  if ('problem' in verified)
    return { ok: false, statusResolved: false, lines: [`Open Badge: INVALID — ${verified.problem}`] };
  const { credential } = verified;
  const name = holderName(credential);
  const sameCertificate =
    isUrl(credential.id) &&
    pathNamesCode(new URL(credential.id), expected.code) &&
    (expected.name === undefined || name === expected.name) &&
    (expected.course === undefined || credential.credentialSubject.achievement.name === expected.course);
  if (!sameCertificate)
    return {
      ok: false,
      statusResolved: false,
      lines: ['Open Badge: DOES NOT MATCH the certificate (another code, name or course)'],
    };
  const mismatch = claimsMismatch(credential);
  if (mismatch)
    return { ok: false, statusResolved: false, lines: [`Open Badge: INVALID — its JWT claims ${mismatch}`] };
  const now = (io.now?.() ?? new Date()).getTime();
  // `exp` sets validUntil when the credential has none (OB 3.0); when it has one they are equal.
  const validUntil =
    credential.validUntil ??
    (credential.exp === undefined ? undefined : new Date(credential.exp * 1000).toISOString());
  const period =
    Date.parse(credential.validFrom) > now
      ? `NOT YET VALID (validFrom ${credential.validFrom})`
      : validUntil && Date.parse(validUntil) < now
        ? `EXPIRED (validUntil ${validUntil})`
        : undefined;
  if (period) return { ok: false, statusResolved: false, lines: [`Open Badge: ${period}`] };
  const lines = [
    `Open Badge: valid OpenBadgeCredential (${verified.alg}, key ${verified.kid}), ${credential.id}`,
  ];
  let ok = true;
  let statusResolved = false;
  const entry = credential.credentialStatus;
  if (entry && io.fetch) {
    try {
      const response = await io.fetch(entry.statusListCredential, {
        headers: { accept: 'application/vc+jwt' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const verifiedList = await verifiedPayload(
        new TextDecoder().decode(await boundedBody(response)).trim(),
        keys,
      );
      if ('problem' in verifiedList) throw new Error(verifiedList.problem);
      const list = statusListShape.parse(verifiedList.payload);
      // The list the entry names, for the entry's purpose, and not past its own validity: a
      // genuine but other (or stale) list must not stand in for it.
      if (list.id !== entry.statusListCredential) throw new Error(`the list served is ${list.id}`);
      if (!list.type.includes('BitstringStatusListCredential'))
        throw new Error('the list is not a BitstringStatusListCredential');
      const purposes = [list.credentialSubject.statusPurpose].flat();
      if (!purposes.includes(entry.statusPurpose))
        throw new Error(`the list's purpose is ${purposes.join(', ')}, not ${entry.statusPurpose}`);
      if (list.validUntil && Date.parse(list.validUntil) < now)
        throw new Error(`the list expired at ${list.validUntil}`);
      if (list.exp !== undefined && list.exp * 1000 < now)
        throw new Error(`the list expired at ${new Date(list.exp * 1000).toISOString()} (exp)`);
      // Entries of more than one bit (statusSize > 1) carry status messages this check does not read.
      if ((entry.statusSize ?? 1) !== 1) throw new Error(`statusSize ${entry.statusSize} is not supported`);
      const listBits = decodeStatusList(list.credentialSubject.encodedList);
      const index = Number(entry.statusListIndex);
      // The spec's RANGE_ERROR: an index past the list's end names no entry.
      if (!Number.isSafeInteger(index) || index >= listBits.length * 8)
        throw new Error(`statusListIndex ${entry.statusListIndex} is past the list's end`);
      const revoked = getBit(listBits, index);
      if (revoked) ok = false;
      statusResolved = true;
      lines.push(
        revoked
          ? `Open Badge status: REVOKED — its bit is set on the ${entry.statusPurpose} list, as the issuer sets it for a revoked or a superseded certificate; the live status says which (${entry.statusListCredential})`
          : `Open Badge status: not revoked (${entry.statusListCredential})`,
      );
    } catch (error) {
      lines.push(
        `Open Badge status: could not be resolved (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  } else if (entry) {
    lines.push(`Open Badge status: not checked (offline); list ${entry.statusListCredential}`);
  }
  return { ok, lines, statusResolved };
}

/**
 * Controls and bidirectional overrides, as `\u{…}`: a report quotes what the checked PDF or link
 * says (a JWS header, an unsigned attachment, a URL, claims signed by a revoked or a stranger's
 * key), and escape sequences in it would let a forger erase the real verdict from a terminal
 * and print "VALID" in its place. Issued names never contain these (lib/certificates/text.ts).
 */
const UNPRINTABLE = new RegExp(`[\\p{Cc}\\u2028\\u2029]|${BIDI_CONTROLS.source}`, 'gu');

export function printable(line: string): string {
  return line.replace(UNPRINTABLE, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

/** What `npm run verify` reports about a PDF or a verification link, every line printable. */
export async function checkCertificate(
  target: string,
  jwksSource: string | undefined,
  io: CheckIo,
  options: { issuer?: string } = {},
): Promise<CheckReport> {
  const report = await checkCertificateUnescaped(target, jwksSource, io, options);
  return { outcome: report.outcome, lines: report.lines.map(printable) };
}

async function checkCertificateUnescaped(
  target: string,
  jwksSource: string | undefined,
  io: CheckIo,
  options: {
    /**
     * The issuer's origin (https://host), named by whoever checks: where its live status and its
     * record of the PDF are read. Default: the origin of a key set given as a URL, or of the URL
     * checked when no key set is given. A key set from a file names no host, and the URL being
     * checked cannot name one for it (anyone can put a real credential behind their own host and
     * answer "valid" about it), so without this the live status is not checked.
     */
    issuer?: string;
  } = {},
): Promise<CheckReport> {
  const lines: string[] = [];
  try {
    // ---- the credential, the facts, and where the certificate says it can be verified ----
    let jws: string;
    let facts: CertificateFacts | undefined;
    let verifyUrl: string | undefined;
    let openBadge: string | undefined;
    let pdf: Uint8Array | undefined;
    if (isUrl(target)) {
      const url = new URL(target);
      try {
        jws = decodeURIComponent(url.hash.slice(1));
      } catch {
        return {
          outcome: 'invalid',
          lines: ['Signature: INVALID — the signed credential after # is damaged (broken %-encoding)'],
        };
      }
      if (jws === '') throw new CannotCheck('the URL carries no signed credential (nothing after #)');
      url.hash = '';
      verifyUrl = url.toString();
    } else {
      pdf = await readSource(target, io, 'PDF');
      let files: Map<string, Uint8Array>;
      try {
        files = await readPdfAttachments(pdf, [
          CREDENTIAL_ATTACHMENT,
          OPEN_BADGE_ATTACHMENT,
          FACTS_ATTACHMENT,
        ]);
      } catch (error) {
        throw new CannotCheck(
          `${target} is not a readable PDF${error instanceof Error && /bytes|filter|zlib/.test(error.message) ? ` (${error.message})` : ''}`,
        );
      }
      const embedded = files.get(CREDENTIAL_ATTACHMENT);
      if (!embedded) throw new CannotCheck(`${target} has no embedded credential (${CREDENTIAL_ATTACHMENT})`);
      jws = new TextDecoder().decode(embedded).trim();
      const badge = files.get(OPEN_BADGE_ATTACHMENT);
      if (badge) openBadge = new TextDecoder().decode(badge);
      const attached = files.get(FACTS_ATTACHMENT);
      // What the PDF says about itself is unsigned: a forger's file may hold anything there.
      const parsed = attached
        ? factsFile.safeParse(parseJson(new TextDecoder().decode(attached)))
        : undefined;
      if (parsed?.success) {
        facts = parsed.data.facts;
        verifyUrl = parsed.data.verifyUrl;
      }
    }

    // ---- the issuer's keys: named by whoever checks, never by the PDF ----
    if (jwksSource === undefined && !isUrl(target)) {
      const claimed = verifyUrl && isUrl(verifyUrl) ? new URL(verifyUrl).origin : undefined;
      throw new CannotCheck(
        "a PDF cannot name its own issuer: pass --jwks with the issuer's key set (URL or file)" +
          (claimed
            ? `. This PDF says it comes from ${claimed}; if that is the issuer you expect: --jwks ${new URL(JWKS_PATH, claimed)}`
            : ''),
      );
    }
    const jwksLocation = jwksSource ?? new URL(JWKS_PATH, target).toString();
    // Where the issuer answers: the host the checker names, or the host its key set came from
    // (which is the checked URL's host when no key set was given). Never the checked URL's host
    // alone when the keys came from elsewhere: its answers would not be the issuer's.
    if (options.issuer !== undefined && !isUrl(options.issuer))
      throw new CannotCheck(`--issuer must be the issuer's address (https://host), not ${options.issuer}`);
    const issuerOrigin =
      options.issuer !== undefined
        ? new URL(options.issuer).origin
        : isUrl(jwksLocation)
          ? new URL(jwksLocation).origin
          : undefined;
    let keys: Awaited<ReturnType<typeof parseJwks>>;
    try {
      keys = await parseJwks(
        JSON.parse(new TextDecoder().decode(await readSource(jwksLocation, io, 'JWKS'))),
      );
    } catch (error) {
      throw error instanceof CannotCheck
        ? error
        : new CannotCheck(`the JWKS (${jwksLocation}) is not a JWK Set`);
    }
    lines.push(`Keys: ${jwksLocation}`);
    const keysFromFile = !isUrl(jwksLocation);
    // A key set from a file is the checker's own copy, perhaps older than the issuer's report that
    // one of its keys was stolen: online, the issuer's current set says which it has revoked since.
    let issuerKids: ReadonlySet<string> | undefined;
    let keyStateUnread = false;
    if (keysFromFile && io.fetch && issuerOrigin !== undefined) {
      const current = await currentKeyStates(issuerOrigin, io, keys, lines);
      if (current) ({ keys, issuerKids } = current);
      else keyStateUnread = true;
    }
    if (jwksSource === undefined && issuerOrigin)
      lines.push(
        `Issuer: ${issuerOrigin}, as the URL names it (the check shows the certificate comes from whoever holds this host's keys)`,
      );

    // ---- signature, then facts ----
    const check = await verifyCredential(jws, keys);
    if (check.verdict === 'unknown-key' && check.kid !== null && keysFromFile) {
      // The file is the checker's copy: a key the issuer added after it was saved is not in it,
      // so a genuine certificate signed since then is not invalid, only not checkable with it.
      const current = issuerOrigin
        ? new URL(JWKS_PATH, issuerOrigin).toString()
        : `https://<the issuer's host>${JWKS_PATH}`;
      if (issuerKids?.has(check.kid))
        throw new CannotCheck(
          `your key set (${jwksLocation}) has no key ${check.kid}, which the issuer's current set (${current}) publishes: save that set again and check once more`,
        );
      if (issuerKids === undefined)
        throw new CannotCheck(
          `your key set (${jwksLocation}) has no key ${check.kid}. Keys the issuer added after you saved it are not in it: fetch its current set (${current}) again and check once more`,
        );
      lines.push(
        `Signature: INVALID — neither your key set (${jwksLocation}) nor the issuer's current set (${current}) has key ${check.kid}`,
      );
      return { outcome: 'invalid', lines };
    }
    const signature = signatureFinding(check);
    lines.push(signature.line);
    if (check.verdict !== 'valid' && check.verdict !== 'revoked-key') return { outcome: 'invalid', lines };
    if (check.verdict === 'revoked-key') {
      lines.push('Signed facts (not trustworthy):', ...describeClaims(check.claims));
      // Online, what the issuer says of the code now (superseded, with the replacement's code and
      // page), said as the record of that code: not a verdict on this copy, whatever it says.
      if (io.fetch && (isUrl(target) || isUrl(jwksLocation) || issuerOrigin !== undefined)) {
        const live = await liveStatusOf(verifyUrl, check.claims.c, issuerOrigin, io.fetch, undefined);
        lines.push(
          live.line.replace(/^Status: /, 'Status of the code those facts name (not of this copy): '),
        );
      }
      return { outcome: 'invalid', lines };
    }
    let ok = true;
    let factsAgree = true;
    if (issuerKids && !issuerKids.has(check.kid)) {
      ok = false;
      lines.push(
        `Key: the issuer's current key set does not list ${check.kid}, the key in your file that signed this: not this issuer's certificate, or not this issuer's key file`,
      );
    }
    const fromBadge =
      !facts && pdf && openBadge !== undefined
        ? await factsFromOpenBadge(openBadge, keys, check.claims)
        : undefined;
    if (fromBadge) {
      facts = fromBadge;
      lines.push(
        "Facts: the PDF's facts file is missing or damaged; its signed Open Badge states them in full, and they match the signature",
        ...describeFacts(facts),
      );
    } else if (facts) {
      if (await factsMatch(check.claims, facts))
        lines.push('Facts: the embedded facts match the signature', ...describeFacts(facts));
      else {
        ok = false;
        factsAgree = false;
        lines.push(
          'Facts: DO NOT MATCH the signature (the embedded facts were altered)',
          ...describeClaims(check.claims),
        );
      }
    } else {
      lines.push('Signed facts (long names are cut; "…" marks a cut):', ...describeClaims(check.claims));
      if (isUrl(target) && !pathNamesCode(new URL(target), check.claims.c)) {
        ok = false;
        lines.push(`Code: the URL names another certificate than the signed code ${check.claims.c}`);
      }
    }

    // The expiry date is signed: from it on, the certificate is expired, online or not. "Expires
    // on" that day means from 00:00 UTC, as the issuer, its page and the Open Badge's validUntil
    // count it (lifecycle.ts, expiresAtFor).
    const today = (io.now?.() ?? new Date()).toISOString().slice(0, 10);
    if (check.claims.x && today >= check.claims.x) {
      ok = false;
      lines.push(`Expiry: EXPIRED (expired on ${check.claims.x}, signed)`);
    }
    // ---- the page: does its text name what was signed? ----
    let pageUnread = false;
    // Held apart from `ok`: a file the issuer's record shows to be, byte for byte, the PDF it
    // issued is its page, whatever its text layer says (one printed before one-page certificates).
    let pageInvalid = false;
    let fileUnchecked = false;
    if (pdf && !io.pageText)
      lines.push(
        'Page: not read by this check. Compare the name, course, code, score and dates printed on it with the signed facts above.',
      );
    else if (pdf && io.pageText && !factsAgree)
      lines.push('Page text: not compared (the embedded facts do not match the signature)');
    else if (pdf && io.pageText) {
      // The facts in full when the PDF carries them (they match the signature); else the signed
      // claims, whose names may be cut: then only their part before the "…" is looked for.
      const printed = facts
        ? {
            name: facts.name,
            course: facts.course,
            code: facts.code,
            score: facts.score,
            dates: { issued: facts.issued, expires: facts.expires ?? null },
          }
        : {
            name: check.claims.n,
            course: check.claims.t,
            code: check.claims.c,
            score: check.claims.s,
            dates: { issued: check.claims.d, expires: check.claims.x ?? null },
          };
      const page = await pageFinding(pdf, printed, io.pageText, io.pageTextReadsShaped === true);
      const cut = !facts && (isCut(check.claims.n) || isCut(check.claims.t));
      if (page.verdict === 'consistent' && cut) {
        // The page starts the way the signed name and course do; what follows the cut is unknown.
        lines.push(
          'Page text: COULD NOT CHECK — the PDF carries neither its facts file nor an Open Badge stating them in full, and the signed name or course is cut: a page naming someone whose name starts the same way would look alike. Check it online, or compare the page with what the student or the issuer tells you.',
        );
        pageUnread = true;
      } else {
        lines.push(page.line);
        pageInvalid = page.verdict === 'invalid';
        pageUnread = page.verdict === 'unread';
      }
    }

    // ---- live status: only when the network is in use anyway ----
    const online =
      io.fetch !== undefined && (isUrl(target) || isUrl(jwksLocation) || issuerOrigin !== undefined);
    let statusKnown = false;
    let badgeUnchecked = false;
    if (openBadge !== undefined) {
      const badge = await checkOpenBadge(
        openBadge,
        keys,
        { code: check.claims.c, ...(facts ? { name: facts.name, course: facts.course } : {}) },
        online ? io : { readFile: io.readFile, ...(io.now ? { now: io.now } : {}) },
        {
          ...(keysFromFile ? { file: jwksLocation } : {}),
          ...(issuerKids ? { issuerKids } : {}),
          currentSet: issuerOrigin
            ? new URL(JWKS_PATH, issuerOrigin).toString()
            : `https://<the issuer's host>${JWKS_PATH}`,
        },
      );
      if (!badge.ok) ok = false;
      badgeUnchecked = badge.unchecked === true;
      statusKnown ||= badge.statusResolved;
      lines.push(...badge.lines);
    }
    if (online && io.fetch) {
      const live = await liveStatusOf(verifyUrl, check.claims.c, issuerOrigin, io.fetch, pdf);
      lines.push(live.line);
      if (live.known === 'invalid') ok = false;
      const disagreement =
        live.record && recordDisagreement(check.claims, live.record, factsAgree ? facts : undefined);
      if (disagreement) {
        ok = false;
        lines.push(`Record: DOES NOT MATCH the signed facts — ${disagreement}`);
      }
      if (live.file) {
        lines.push(live.file.line);
        if (!live.file.ok) ok = false;
        else if (live.file.identical) {
          pageInvalid = false;
          pageUnread = false;
        }
      } else if (pdf && live.known !== 'invalid') {
        // Online, the file itself is what is checked: without the issuer's record of it (no
        // address for the signed code on its host, or no answer), a redrawn page could pass.
        fileUnchecked = true;
        lines.push(
          "File: COULD NOT CHECK — the issuer's record of the PDF it issued for this code could not be read, so whether this is that file is not known",
        );
      }
      statusKnown ||= live.known !== 'unknown';
    } else {
      lines.push('Status: not checked (offline). A revocation after issue shows only at the live page.');
    }
    if (!ok || pageInvalid) return { outcome: 'invalid', lines };
    // A page that could not be read, or a file that could not be compared online, is not a
    // verdict on it: the check is incomplete.
    if (pageUnread || fileUnchecked || keyStateUnread || badgeUnchecked)
      return { outcome: 'unchecked', lines };
    if (online && !statusKnown) {
      lines.push(
        'Could not check whether the certificate is still valid: the signature alone is not a verdict online.',
      );
      return { outcome: 'unchecked', lines };
    }
    return { outcome: 'valid', lines };
  } catch (error) {
    if (error instanceof CannotCheck)
      return { outcome: 'unchecked', lines: [...lines, `Could not check: ${error.message}`] };
    throw error;
  }
}
