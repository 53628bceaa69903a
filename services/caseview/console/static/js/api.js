// The console speaks to caseview's /v1 API exactly like any other client: a bearer
// token on every request, the stated purpose (doelbinding) as X-Purpose.

import { purpose, refreshNow, signOut, toLogin, token } from './session.js';

export class ApiError extends Error {
  constructor(status, title, detail, retryAfter = null) {
    super(title || `HTTP ${status}`);
    this.status = status;
    this.title = title || '';
    this.detail = detail || '';
    this.retryAfter = retryAfter;
  }
}

// Header values must be Latin-1 (fetch refuses anything else).
function headerSafe(text) {
  return text.replace(/[^\u0020-\u007e\u00a0-\u00ff]/g, '?').slice(0, 500);
}

export function authHeaders(extra = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...extra };
  const why = purpose();
  if (why) headers['X-Purpose'] = headerSafe(why);
  return headers;
}

export function expired() {
  signOut();
  toLogin('verlopen');
}

export async function api(path, { method = 'GET', body, headers = {}, signal, retried = false } = {}) {
  const init = {
    method,
    headers: authHeaders({ Accept: 'application/json', ...headers }),
    cache: 'no-store',
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'Geen verbinding', 'Eenloket is niet bereikbaar.');
  }
  // Refresh hook: a token that expired under the page's feet (a sleeping tab) is renewed
  // once through the issuer's refresh token, and the request sent again.
  if (response.status === 401 && !retried && (await refreshNow())) {
    return api(path, { method, body, headers, signal, retried: true });
  }
  if (response.status === 401) {
    expired();
    throw new ApiError(401, 'Niet aangemeld');
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = {};
    }
    throw new ApiError(
      response.status, problem.title, problem.detail, response.headers.get('Retry-After'),
    );
  }
  return response.json();
}

// A sentence for the user, in Dutch, for any failure.
export function explain(error) {
  if (!(error instanceof ApiError)) return 'Er ging iets mis in de console. Laad de pagina opnieuw.';
  switch (error.status) {
    case 0:
      return 'Geen verbinding met Eenloket. Controleer de verbinding en probeer het opnieuw.';
    case 400:
    case 422:
      // Caseview's detail is Dutch and names the field.
      return error.detail
        ? `De invoer is niet geldig. ${error.detail}`
        : 'De invoer is niet geldig. Controleer de velden en probeer het opnieuw.';
    case 403:
      return 'U heeft hiervoor geen toegang met uw huidige rol of team.';
    case 404:
      return 'Niet gevonden. Misschien is het nog niet verwerkt: probeer het zo opnieuw.';
    case 409:
      return `Dit kan niet in de huidige toestand: ${error.detail || error.title}`;
    case 503:
      return `Eenloket kan dit nu niet aannemen. Probeer het over ${error.retryAfter || 'enkele'} seconden opnieuw.`;
    default:
      return `Er ging iets mis (${error.status}). Probeer het opnieuw.`;
  }
}
