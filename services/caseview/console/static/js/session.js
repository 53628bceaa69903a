// The bearer token lives in sessionStorage: this tab only, gone when the tab closes,
// never sent by the browser on its own (so no cookie, no CSRF). The claims are decoded
// here only to show who is logged in; caseview checks the signature on every request.
// Logged in through the issuer (oidc.js), the OIDC session (refresh and id token) sits
// beside it under OIDC, and the access token is refreshed before it expires.

import { fromSession } from './oidc.js';

const TOKEN = 'eenloket.console.token';
const PURPOSE = 'eenloket.console.purpose';
export const OIDC = 'eenloket.console.oidc';
const LOGIN = 'aanmelden.html';
// Where the login page may send the user back to: a console page, nothing else.
const SAFE_RETURN = /^[a-z]+\.html(\?[A-Za-z0-9=&%._-]*)?$/;

function decodePart(part) {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export function parseToken(token) {
  const parts = String(token || '').trim().split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = decodePart(parts[1]);
    if (typeof claims.sub !== 'string') return null;
    return {
      sub: claims.sub,
      // Keycloak's `sub` is an opaque id; people recognise their user name.
      name: typeof claims.preferred_username === 'string' ? claims.preferred_username : claims.sub,
      teams: Array.isArray(claims.teams) ? claims.teams.map(String) : [],
      roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [],
      exp: typeof claims.exp === 'number' ? claims.exp : null,
    };
  } catch {
    return null;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function claims() {
  const current = token();
  const parsed = current ? parseToken(current) : null;
  if (!parsed) return null;
  if (parsed.exp !== null && parsed.exp * 1000 <= Date.now()) return null;
  return parsed;
}

export function signIn(value) {
  const parsed = parseToken(value);
  if (!parsed) throw new Error('Dit is geen geldig token (JWT).');
  if (parsed.exp !== null && parsed.exp * 1000 <= Date.now()) {
    throw new Error('Dit token is verlopen.');
  }
  sessionStorage.setItem(TOKEN, value.trim());
  return parsed;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(PURPOSE);
  sessionStorage.removeItem(`${OIDC}.session`);
}

// Afmelden: through the issuer when logged in there (it ends its session too), else here.
export function logOut() {
  const client = fromSession(OIDC);
  if (!client) {
    signOut();
    window.location.href = LOGIN;
    return;
  }
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(PURPOSE);
  client.logout(); // reads the id token for the issuer, then drops the OIDC session
}

// A new access token now (after a 401, or on the login page); true when there is one.
export async function refreshNow() {
  const client = fromSession(OIDC);
  if (!client) return false;
  try {
    const tokens = await client.refresh();
    sessionStorage.setItem(TOKEN, tokens.access_token);
    return true;
  } catch {
    return false;
  }
}

function keepFresh() {
  const client = fromSession(OIDC);
  if (!client) return;
  client.keepFresh(
    (access) => sessionStorage.setItem(TOKEN, access),
    (error) => {
      signOut();
      toLogin(error.kind === 'unreachable' ? 'onbereikbaar' : 'verlopen');
    },
  );
}

function here() {
  const page = window.location.pathname.split('/').pop() || 'index.html';
  return page + window.location.search;
}

// Send the user to the login page, to come back here afterwards.
export function toLogin(reason) {
  const query = new URLSearchParams({ terug: here() });
  if (reason) query.set('reden', reason);
  window.location.replace(`${LOGIN}?${query}`);
}

// Every console page but the login page starts with this.
export function requireLogin() {
  const current = claims();
  const oidc = fromSession(OIDC);
  if (!current && oidc && oidc.session().refresh_token) {
    toLogin('vernieuwen'); // the login page tries the refresh token first
    throw new Error('token expired');
  }
  if (!current) {
    const had = token() !== null;
    signOut();
    toLogin(had ? 'verlopen' : null);
    throw new Error('not logged in');
  }
  keepFresh();
  return current;
}

export function returnTarget(value) {
  return value && SAFE_RETURN.test(value) ? value : 'index.html';
}

export function purpose() {
  return sessionStorage.getItem(PURPOSE) || '';
}

export function setPurpose(value) {
  const text = String(value || '').trim();
  if (text) sessionStorage.setItem(PURPOSE, text);
  else sessionStorage.removeItem(PURPOSE);
}

// Which of the user's teams have a queue: the API shows queues to kcc, member and lead.
export function queueTeams(current) {
  const acts = current.roles.some((r) => ['kcc', 'member', 'lead'].includes(r));
  return acts ? [...current.teams].sort() : [];
}
