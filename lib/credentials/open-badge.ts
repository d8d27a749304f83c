import { issuerKeyUrl } from './jwks.ts';
import { type BitstringStatusListEntry, epochSeconds, isoSeconds, type JwtSigner } from './status-list.ts';

/**
 * 1EdTech Open Badges 3.0 (https://www.imsglobal.org/spec/ob/v3p0/): the `OpenBadgeCredential`
 * of one issued certificate and its VC-JWT. Pure functions; the caller passes the issuer
 * profile (configuration), the course and the certificate row's facts, and a signer (issue 10's
 * credentials key: RS256, OB 3.0's minimum, `kid` a URL resolving to the key).
 */

export const VC_V2_CONTEXT = 'https://www.w3.org/ns/credentials/v2';
export const OB_V3_CONTEXT = 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';
/**
 * 1EdTech's extensions context: it defines `1EdTechJsonSchemaValidator2019`, the `credentialSchema`
 * type below, which neither context before it does (the VC 2.0 context's catch-all `@vocab` would
 * give it an IRI of the issuer's instead). Every OB 3.0 example that names a schema carries it
 * (the specification's "JSON Web Token Proof Format" VC-JWT example among them).
 */
export const OB_V3_EXTENSIONS_CONTEXT = 'https://purl.imsglobal.org/spec/ob/v3p0/extensions.json';
export const OB_V3_SCHEMA =
  'https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json';

export interface IssuerProfileInput {
  /** A URL (or DID) naming the issuing organisation; also the JWT `iss`. */
  id: string;
  name: string;
  url?: string;
  email?: string;
  description?: string;
}

export interface AchievementInput {
  /** A stable URI of the course's achievement (the same for every certificate of the course). */
  id: string;
  name: string;
  description: string;
  criteria: { narrative: string; id?: string };
  /** BCP 47 language of name and description. */
  language?: string;
  humanCode?: string;
}

export interface OpenBadgeInput {
  /** The credential's URI; the verification page URL of the certificate is a good one. */
  credentialId: string;
  issuer: IssuerProfileInput;
  achievement: AchievementInput;
  recipient: {
    /** A URI for the learner (credential-service.ts holderSubjectId); also the JWT `sub`. */
    id: string;
    /** The printed name, shown by wallets (an IdentityObject of type `name`, not hashed). */
    name?: string;
  };
  /** When the certificate was issued (generated); stated as validFrom unless it expired before. */
  validFrom: Date;
  /** The certificate's expiry, when its course has a validity period. */
  validUntil?: Date | null;
  credentialStatus?: BitstringStatusListEntry;
}

export interface OpenBadgeCredential {
  '@context': string[];
  id: string;
  type: ['VerifiableCredential', 'OpenBadgeCredential'];
  name: string;
  issuer: { id: string; type: ['Profile']; name: string; url?: string; email?: string; description?: string };
  /**
   * VC Data Model 2.0 names only: its context and OB's 3.0.3 context do not define the VC 1.1
   * `issuanceDate` / `expirationDate`, and a document using terms its contexts do not define
   * is not a conforming VC 2.0 document.
   */
  validFrom: string;
  validUntil?: string;
  /** OB 3.0: when it was awarded, kept here when validFrom is not that instant (born expired). */
  awardedDate?: string;
  credentialSubject: {
    id: string;
    type: ['AchievementSubject'];
    achievement: {
      id: string;
      type: ['Achievement'];
      achievementType: 'Certificate';
      name: string;
      description: string;
      criteria: { narrative: string; id?: string };
      /** OB 3.0 Achievement `inLanguage`: the BCP 47 language of name and description. */
      inLanguage?: string;
      humanCode?: string;
    };
    identifier?: { type: 'IdentityObject'; hashed: false; identityHash: string; identityType: 'name' }[];
  };
  credentialSchema: { id: string; type: '1EdTechJsonSchemaValidator2019' }[];
  credentialStatus?: BitstringStatusListEntry;
}

export function buildOpenBadgeCredential(input: OpenBadgeInput): OpenBadgeCredential {
  const { issuer, achievement } = input;
  const issued = isoSeconds(input.validFrom);
  const validUntil = input.validUntil ? isoSeconds(input.validUntil) : undefined;
  // A certificate issued already expired (a backfilled pass whose validity period ended before
  // it was printed, a correction rendered after its original's expiry): VC Data Model 2.0 says
  // validFrom MUST be the same as or earlier than validUntil, and a JWT whose nbf is after its
  // exp is malformed, not expired. It is stated valid from its expiry on, i.e. never valid, and
  // OB 3.0's awardedDate keeps the instant it was issued.
  // (Both are whole-second ISO 8601 UTC strings of four-digit years: they sort as they compare.)
  const bornExpired = validUntil !== undefined && validUntil < issued;
  const validFrom = bornExpired ? validUntil : issued;
  return {
    '@context': [VC_V2_CONTEXT, OB_V3_CONTEXT, OB_V3_EXTENSIONS_CONTEXT],
    id: input.credentialId,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: achievement.name,
    issuer: {
      id: issuer.id,
      type: ['Profile'],
      name: issuer.name,
      ...(issuer.url ? { url: issuer.url } : {}),
      ...(issuer.email ? { email: issuer.email } : {}),
      ...(issuer.description ? { description: issuer.description } : {}),
    },
    validFrom,
    ...(validUntil ? { validUntil } : {}),
    ...(bornExpired ? { awardedDate: issued } : {}),
    credentialSubject: {
      id: input.recipient.id,
      type: ['AchievementSubject'],
      achievement: {
        id: achievement.id,
        type: ['Achievement'],
        achievementType: 'Certificate',
        name: achievement.name,
        description: achievement.description,
        criteria: achievement.criteria,
        ...(achievement.language ? { inLanguage: achievement.language } : {}),
        ...(achievement.humanCode ? { humanCode: achievement.humanCode } : {}),
      },
      ...(input.recipient.name
        ? {
            identifier: [
              {
                type: 'IdentityObject',
                hashed: false,
                identityHash: input.recipient.name,
                identityType: 'name',
              },
            ],
          }
        : {}),
    },
    credentialSchema: [{ id: OB_V3_SCHEMA, type: '1EdTechJsonSchemaValidator2019' }],
    ...(input.credentialStatus ? { credentialStatus: input.credentialStatus } : {}),
  };
}

/** The course's achievement: one per course, so every certificate of it points at the same id. */
export function achievementForCourse(input: {
  baseUrl: string;
  course: { id: string; title: string; code?: string | null; locale?: string | null };
  passPercentage: number;
  description?: string;
}): AchievementInput {
  const base = input.baseUrl.replace(/\/+$/, '');
  const language = languageOf(input.course.locale);
  const narrative = `Passed the final test of "${input.course.title}" with a score of at least ${input.passPercentage}%.`;
  return {
    id: `${base}/courses/${encodeURIComponent(input.course.id)}/achievement`,
    name: input.course.title,
    description: input.description ?? `Certificate of completion of the course "${input.course.title}".`,
    criteria: { narrative },
    ...(language ? { language } : {}),
    ...(input.course.code ? { humanCode: input.course.code } : {}),
  };
}

/**
 * The pattern 1EdTech's Open Badges 3.0 schema gives `inLanguage` (language, script and region
 * only, in their canonical case): test/fixtures/open-badges, `$defs/Achievement`.
 */
const OB_LANGUAGE_CODE = /^[a-z]{2,4}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$/;

/**
 * A course locale as the schema takes it. Courses may store any case and variants (`pt-br`,
 * `zh-hans`, `de-CH-1996`), which the schema the credential names refuses: those become
 * `pt-BR`, `zh-Hans`, `de-CH`; anything still outside the pattern is left out.
 */
function languageOf(locale: string | null | undefined): string | undefined {
  if (!locale) return undefined;
  try {
    const { language, script, region } = new Intl.Locale(locale);
    const code = [language, script, region].filter(Boolean).join('-');
    return OB_LANGUAGE_CODE.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The JWT claims of the credential as Open Badges 3.0 maps them (section "JSON Web Token Proof
 * Format"): the claims set is the credential itself plus `iss` = issuer.id, `jti` = id,
 * `sub` = credentialSubject.id, `nbf` = validFrom and `exp` = validUntil (only when it expires).
 */
export function openBadgeJwtClaims(credential: OpenBadgeCredential): Record<string, unknown> {
  return {
    ...credential,
    iss: credential.issuer.id,
    jti: credential.id,
    sub: credential.credentialSubject.id,
    nbf: epochSeconds(new Date(credential.validFrom)),
    ...(credential.validUntil ? { exp: epochSeconds(new Date(credential.validUntil)) } : {}),
  };
}

/**
 * The credential as a compact VC-JWT: JOSE header `typ` "JWT", `alg` from the signer, and `kid`
 * the key's URL under `apiBaseUrl`, which dereferences to the public JWK (OB 3.0: "A URI that can
 * be dereferenced to an object of type JWK"; issuerKeyUrl, GET /api/v1/keys/{kid}).
 */
export function signOpenBadgeCredential(
  credential: OpenBadgeCredential,
  sign: JwtSigner,
  apiBaseUrl: string,
): Promise<string> {
  return sign(
    openBadgeJwtClaims(credential),
    { typ: 'JWT' },
    { keyUrl: (thumbprint) => issuerKeyUrl(apiBaseUrl, thumbprint) },
  );
}
