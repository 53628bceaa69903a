// The resident's login: the resident portal's public client at the issuer caseview names
// (config.json), through the console's OIDC module (PKCE, silent refresh, RP logout).
// The tokens sit in sessionStorage (this tab only), as the console's do.

import { OidcClient, fromSession } from '/console/js/oidc.js';

const PREFIX = 'eenloket.mijn-zaken.oidc';
export const LOGIN = 'aanmelden.html';
// Where the login page may send the resident back to: one of these pages, nothing else.
const SAFE_RETURN = /^(index|zaak|inzage|voorkeuren)\.html(\?id=[0-9a-f-]{36})?$/;

export async function loginConfig() {
  const response = await fetch('config.json', { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

export function newClient(config) {
  const here = (page) => new URL(page, window.location.href).href;
  return new OidcClient({
    issuer: config.issuer,
    clientId: config.client_id,
    redirectUri: here(LOGIN),
    postLogoutRedirectUri: here(`${LOGIN}?reden=afgemeld`),
    prefix: PREFIX,
  });
}

function client() {
  return fromSession(PREFIX);
}

function current() {
  const c = client();
  return c ? c.session() : null;
}

// The access token while it is valid, else null.
export function token() {
  const s = current();
  return s && s.expires_at > Date.now() ? s.access_token : null;
}

export function safeReturn(page) {
  return SAFE_RETURN.test(page || '') ? page : 'index.html';
}

export function toLogin(reason = '') {
  const page = window.location.pathname.split('/').pop() + window.location.search;
  const query = new URLSearchParams({ terug: safeReturn(page) });
  if (reason) query.set('reden', reason);
  window.location.assign(`${LOGIN}?${query}`);
}

// Once, when a request answered 401 or the token ran out while the tab slept.
export async function refreshNow() {
  const c = client();
  if (!c) return false;
  try {
    await c.refresh();
    return true;
  } catch {
    return false;
  }
}

// On every page but the login page: a valid session (refreshed if it can be), kept fresh.
export async function requireLogin() {
  if (!token() && !(current() && (await refreshNow()))) {
    toLogin(current() ? 'verlopen' : '');
    return false;
  }
  client().keepFresh(
    () => {},
    (error) => toLogin(error.kind === 'unreachable' ? 'onbereikbaar' : 'verlopen'),
  );
  return true;
}

export async function logout() {
  const c = client();
  if (c) await c.logout();
  else window.location.assign(`${LOGIN}?reden=afgemeld`);
}
