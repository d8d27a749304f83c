// Checks the signed credential in the URL fragment against the issuer's JWKS with WebCrypto,
// then whether the signed facts are the ones this page shows. Runs inline under a CSP hash;
// no library, no third-party request. Keep canonical() in step with canonicalFacts() in
// lib/credentials/credential.ts.

// "Check a PDF file": the SHA-256 of a file the verifier picks, against the hash of the PDF as
// issued. The file is read and hashed here; it is never sent anywhere.
(() => {
  const section = document.getElementById('file-check');
  const input = document.getElementById('file-input');
  const result = document.getElementById('file-result');
  if (!section || !input || !result || !crypto.subtle) return;
  const expected = section.dataset.sha256;
  section.hidden = false;
  const say = (key) => {
    result.textContent = result.dataset[key] ?? '';
    result.dataset.result = key;
  };
  let latest = 0;
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    const turn = ++latest;
    if (!file) {
      result.textContent = '';
      delete result.dataset.result;
      return;
    }
    say('reading');
    let hex;
    try {
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
      hex = Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
    } catch {
      if (turn === latest) say('unreadable');
      return;
    }
    // A file picked while this one was read wins.
    if (turn === latest) say(hex === expected ? 'match' : 'differs');
  });
})();

(async () => {
  const main = document.querySelector('main');
  const result = document.getElementById('signature-result');
  const heading = document.getElementById('verdict-heading');
  const recordElement = document.getElementById('record-facts');
  if (!main || !result || !heading || !recordElement) return;
  const say = (key) => {
    result.textContent = result.dataset[key] ?? '';
    result.dataset.result = key;
  };
  const distrust = (key, headingKey) => {
    main.dataset.status = 'tampered';
    heading.textContent = heading.dataset[headingKey] ?? '';
    // The title is what a screen reader announces first, and what the tab and history keep: it
    // must not go on saying "Valid certificate" under a heading that says otherwise.
    document.title = `${heading.dataset.title ?? ''} – ${heading.textContent}`;
    // Keeping and sharing are offered for a certificate a verifier would accept: not beside a
    // verdict that says this copy cannot be trusted (the wallet's credential, signed afresh,
    // would verify as valid).
    document.querySelector('.actions')?.remove();
    say(key);
  };
  const record = JSON.parse(recordElement.textContent || 'null');
  let jws;
  try {
    jws = decodeURIComponent(location.hash.slice(1));
  } catch {
    jws = undefined; // broken %-encoding: a damaged or altered link, not a missing one
  }
  if (!record) return;
  if (jws === undefined) return distrust('mismatch', 'tampered');
  if (jws === '') return say('none');
  // No WebCrypto outside a secure context (http:// on anything but this machine): say the
  // signature could not be checked rather than "checking" for ever.
  if (!globalThis.crypto?.subtle) return say('unknown');
  say('checking');

  const utf8 = new TextEncoder();
  const fromBase64url = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  };
  const toBase64url = (bytes) =>
    btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const sha256 = async (text) => new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(text)));

  let header;
  let claims;
  const parts = jws.split('.');
  try {
    if (parts.length !== 3) throw new Error('not a compact JWS');
    header = JSON.parse(new TextDecoder().decode(fromBase64url(parts[0])));
    claims = JSON.parse(new TextDecoder().decode(fromBase64url(parts[1])));
  } catch {
    return distrust('mismatch', 'tampered');
  }
  // JSON, but not objects (`null`, a number): not a JWS this issuer could have signed.
  const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isObject(header) || !isObject(claims)) return distrust('mismatch', 'tampered');
  if (header.alg !== 'ES256' || typeof header.kid !== 'string') return distrust('mismatch', 'tampered');
  // RFC 7515 §4.1.11: critical header parameters this page does not understand (the issuer sets
  // none) make the JWS invalid, whatever its signature.
  if (header.crit !== undefined) return distrust('mismatch', 'tampered');

  const find = (list) =>
    Array.isArray(list) ? list.find((key) => key && key.kid === header.kid) : undefined;
  const loadJwks = async (cache) => {
    const response = await fetch(main.dataset.jwks, { credentials: 'omit', cache });
    if (!response.ok) throw new Error(`JWKS ${response.status}`);
    return response.json();
  };
  let jwks;
  try {
    jwks = await loadJwks('default');
    // The key set may be one this browser (or a cache on the way) kept from before the issuer
    // published a new key (the set is cached for five minutes): before calling a key unknown,
    // ask the issuer itself once.
    if (!find(jwks?.keys) && !find(jwks?.revoked_keys)) jwks = await loadJwks('no-cache');
  } catch {
    return say('unknown');
  }
  const revoked = find(jwks.revoked_keys);
  const jwk = find(jwks.keys) ?? revoked;
  // A key the issuer never published cannot vouch for anything: not issued by them. (Its own
  // words: "could not be checked" is for keys that did not load.)
  if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256') return distrust('foreign', 'tampered');
  // RFC 7638: the kid must be the key's own thumbprint.
  const thumbprint = toBase64url(
    await sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })),
  );
  if (thumbprint !== header.kid) return distrust('foreign', 'tampered');

  let genuine = false;
  try {
    const key = await crypto.subtle.importKey(
      'jwk',
      { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    genuine = await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      fromBase64url(parts[2]),
      utf8.encode(`${parts[0]}.${parts[1]}`),
    );
  } catch {
    genuine = false;
  }
  if (!genuine) return distrust('mismatch', 'tampered');
  // A record that is no longer valid keeps its own verdict (revoked, expired, superseded: what
  // `npm run compromise-key` leaves the key's certificates, with a link to each replacement): the
  // signature line says the copy cannot be trusted. A valid record's heading must say it too.
  if (revoked)
    return main.dataset.status === 'valid' ? distrust('revoked_key', 'revoked_key') : say('revoked_key');
  // The issuer found the record signed with a key reported compromised that the QR code does not
  // name (the credentials key of the PDF's Open Badge): its genuine signature does not make this
  // copy one to trust, and the line under the heading must not say "Genuine".
  if (document.getElementById('revoked-key')) return say('revoked_key');

  // The holder's details were erased: the record keeps no name or score to compare the signed
  // ones with. A genuine signature of this certificate's code leaves the record's own status
  // (revoked) standing and says the details were withdrawn; the holder's copy is not "altered".
  if (record.withdrawn) return claims.c === record.code ? say('withdrawn') : distrust('mismatch', 'tampered');

  const canonical = JSON.stringify([
    record.code,
    record.name,
    record.course,
    record.score,
    record.issued,
    record.expires ?? '',
    record.issuer,
  ]);
  const hash = toBase64url((await sha256(canonical)).slice(0, 16));
  if (claims.h !== hash || claims.c !== record.code) return distrust('mismatch', 'tampered');
  say('valid');
})().catch(() => {
  // Whatever this script did not foresee ends in "could not be checked", never in "checking" for
  // ever under a verdict the signature has not confirmed.
  const result = document.getElementById('signature-result');
  if (result?.dataset.result !== 'checking') return;
  result.textContent = result.dataset.unknown ?? '';
  result.dataset.result = 'unknown';
});
