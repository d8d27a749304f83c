import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';

// Deploy step 1 of the README creates the database and its owner as the cluster's admin. On RDS
// that admin is no superuser, and PostgreSQL lets such a role give a database only to a role it
// is a member of. The statements are read from the README, so the test checks what a deployer
// copies, run as such an admin in the test cluster.

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The psql command of step 1 in the Deploying section: its admin user and its `-c` statements. */
function deployStepOne(): { admin: string; statements: string[] } {
  const section = README.slice(README.indexOf('\n## Deploying\n'));
  const step = section.slice(section.indexOf('\n# 1. '));
  // The command and its continuation lines (a trailing backslash), up to the first line without one.
  const lines = step.split('\n').slice(1);
  const start = lines.findIndex((line) => line.startsWith('psql '));
  expect(start, 'a psql command in step 1').toBeGreaterThan(-1);
  const command: string[] = [];
  for (const line of lines.slice(start)) {
    command.push(line.replace(/\\$/, ''));
    if (!line.endsWith('\\')) break;
  }
  const joined = command.join(' ');
  const admin = /'postgres:\/\/([^@:/']+)@/.exec(joined)?.[1] ?? '';
  const statements = [...joined.matchAll(/-c\s+(?:"([^"]*)"|'([^']*)')/g)].map(
    (match) => match[1] ?? match[2] ?? '',
  );
  return { admin, statements };
}

const stack = inject('stack');
const suffix = randomBytes(6).toString('hex');
const adminRole = `readme_admin_${suffix}`;
const ownerRole = `readme_owner_${suffix}`;
const database = `readme_db_${suffix}`;
const ADMIN_PASSWORD = 'admin-password';
const opened: postgres.Sql[] = [];

function connect(user: string, password: string, db: string): postgres.Sql {
  const url = new URL(stack.adminUrl);
  url.username = user;
  url.password = password;
  url.pathname = `/${db}`;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => undefined });
  opened.push(sql);
  return sql;
}

afterAll(async () => {
  for (const sql of opened.splice(0)) await sql.end({ timeout: 5 });
  const superuser = postgres(stack.adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await superuser.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    // The owner first: the admin granted its membership, and a grantor cannot be dropped before it.
    await superuser.unsafe(`DROP ROLE IF EXISTS "${ownerRole}"`);
    await superuser.unsafe(`DROP ROLE IF EXISTS "${adminRole}"`);
  } finally {
    await superuser.end();
  }
});

describe("README's deploy step 1", () => {
  it('creates the database, owned by the new role, when run by an admin that is not a superuser', async () => {
    const { admin, statements } = deployStepOne();
    expect(admin).toBe('admin');
    expect(statements.length).toBeGreaterThanOrEqual(2);
    // The README's names, made unique: roles are shared by every database of the cluster.
    const named = statements.map((statement) =>
      statement
        .replace(/\bcertificates\b/g, (_, offset: number, text: string) =>
          /CREATE DATABASE\s+$/i.test(text.slice(0, offset)) ? database : ownerRole,
        )
        .replace(new RegExp(`\\b${admin}\\b`, 'g'), adminRole),
    );
    const ownerPassword = /PASSWORD '([^']*)'/.exec(named[0] ?? '')?.[1];
    expect(ownerPassword, 'the CREATE ROLE statement comes first, with a password').toBeDefined();

    const superuser = postgres(stack.adminUrl, { max: 1, onnotice: () => undefined });
    opened.push(superuser);
    await superuser.unsafe(
      `CREATE ROLE "${adminRole}" NOSUPERUSER CREATEDB CREATEROLE LOGIN PASSWORD '${ADMIN_PASSWORD}'`,
    );
    const asAdmin = connect(adminRole, ADMIN_PASSWORD, 'postgres');
    // In order, each on its own, as psql runs its `-c` options.
    for (const statement of named) await asAdmin.unsafe(statement);

    const [owned] = await superuser<{ owner: string }[]>`
      SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ${database}`;
    expect(owned?.owner).toBe(ownerRole);
    // What `npm run migrate` then needs: the owner creates tables in the new database's public schema.
    const asOwner = connect(ownerRole, ownerPassword ?? '', database);
    await asOwner`CREATE TABLE public.readme_check (id int PRIMARY KEY)`;
    const [table] = await asOwner<{ owner: string }[]>`
      SELECT tableowner AS owner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'readme_check'`;
    expect(table?.owner).toBe(ownerRole);
  });
});
