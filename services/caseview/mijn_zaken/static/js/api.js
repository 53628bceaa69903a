// The /v1/me API with the resident's token; answers that are not OK become a Problem with a
// sentence in plain Dutch (the API's own Dutch detail where it has one).

import { refreshNow, toLogin, token } from './session.js';

export class Problem extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const WORDS = {
  0: 'Wij kunnen Mijn zaken nu niet bereiken. Controleer uw internet en probeer het opnieuw.',
  403: 'U mag dit niet zien met deze manier van inloggen.',
  404: 'Deze zaak is er niet, of niet van u.',
  409: 'Dit waren al uw keuzes. Er is niets veranderd.',
  503: 'Het lukt nu even niet. Probeer het over een paar minuten opnieuw.',
};

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

async function problemOf(response) {
  let detail = '';
  try {
    detail = (await response.json()).detail || '';
  } catch {
    detail = '';
  }
  // 404 and 422 carry Dutch words from the API; other details are for developers.
  const own = response.status === 404 || response.status === 422 ? detail : '';
  return new Problem(response.status, own || WORDS[response.status] || WORDS[503]);
}

// The answer as a Response (for downloads) or parsed JSON (`json: true`, the default).
export async function api(path, { method = 'GET', body, json = true, retried = false } = {}) {
  const init = { method, headers: authHeaders({ Accept: json ? 'application/json' : '*/*' }), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem(0, WORDS[0]);
  }
  if (response.status === 401 && !retried && (await refreshNow())) {
    return api(path, { method, body, json, retried: true });
  }
  if (response.status === 401) {
    toLogin('verlopen');
    throw new Problem(401, 'U bent niet meer ingelogd.');
  }
  if (!response.ok) throw await problemOf(response);
  return json ? response.json() : response;
}
