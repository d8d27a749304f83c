import { readFileSync } from 'node:fs';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';

// 1EdTech's OB 3.0 AchievementCredential JSON schema; test/fixtures/open-badges/SOURCE.md says where from.
const schema = JSON.parse(
  readFileSync(
    new URL('../fixtures/open-badges/ob_v3p0_achievementcredential_schema.json', import.meta.url),
    'utf8',
  ),
) as Record<string, unknown>;
const ajv = new Ajv2019({ allErrors: true, strict: false });
addFormats(ajv);

/** Validates a credential against the OB 3.0 schema (draft 2019-09); `.errors` says why not. */
export const validateOpenBadge = ajv.compile(schema);
