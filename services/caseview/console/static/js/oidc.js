// OpenID Connect in the browser, no library: the authorization code flow with PKCE (S256)
// against the issuer's discovery document, `state` and `nonce` checked, the code exchanged
// at the token endpoint, tokens in sessionStorage (this tab only), silent refresh with the
// refresh token before the access token expires, and RP-initiated logout. Parameterised by
// issuer and client id (and a storage prefix), so other pages can reuse it with their own
// client. A public client holds no secret: PKCE binds the code to this tab's verifier.

const RETRY = 15_000; // ms between tries while the issuer does not answer

const DUTCH = {
  expired: 'Uw sessie is verlopen. Meld u opnieuw aan.',
  unreachable: 'De inlogdienst is niet bereikbaar. Probeer het over enkele minuten opnieuw.',
  refused: 'Aanmelden is niet gelukt. Probeer het opnieuw.',
};

// kind: 'expired' (log in again), 'unreachable' (the issuer did not answer), 'refused'.
export class OidcError extends Error {
  constructor(kind, detail = '') {
    super(DUTCH[kind] || DUTCH.refused);
    this.kind = kind;
    this.detail = detail;
  }
}

function base64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

export function jwtClaims(token) {
  const part = String(token || '').split('.')[1] || '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new OidcError('unreachable', url);
  }
  if (response.status >= 500) throw new OidcError('unreachable', `HTTP ${response.status}`);
  if (!response.ok) throw new OidcError('refused', `HTTP ${response.status}`);
  return response.json();
}

export class OidcClient {
  // issuer: exactly the tokens' `iss`; redirectUri: this page's callback (registered at the
  // issuer); prefix: the sessionStorage keys of this client's session.
  constructor({ issuer, clientId, redirectUri, postLogoutRedirectUri, prefix, scope = 'openid' }) {
    this.issuer = issuer.replace(/\/+$/, '');
    this.clientId = clientId;
    this.redirectUri = redirectUri;
    this.postLogoutRedirectUri = postLogoutRedirectUri || redirectUri;
    this.scope = scope;
    this.prefix = prefix;
    this._metadata = null;
    this._timer = null;
  }

  async metadata() {
    if (this._metadata) return this._metadata;
    const document = await getJson(`${this.issuer}/.well-known/openid-configuration`);
    // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
    if (document.issuer !== this.issuer) throw new OidcError('refused', 'issuer mismatch');
    this._metadata = document;
    return document;
  }

  // Off to the issuer's login page; `returnTo` comes back from handleCallback().
  async login(returnTo = '') {
    const meta = await this.metadata();
    const pending = { state: randomText(), nonce: randomText(), verifier: randomText(48), returnTo };
    sessionStorage.setItem(`${this.prefix}.pending`, JSON.stringify(pending));
    const query = new URLSearchParams({
      client_id: this.clientId,
      response_type: 'code',
      scope: this.scope,
      redirect_uri: this.redirectUri,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await challengeOf(pending.verifier),
      code_challenge_method: 'S256',
    });
    window.location.assign(`${meta.authorization_endpoint}?${query}`);
  }

  // Is this page load the issuer's answer? (a `code` or an `error`, with our `state`)
  isCallback(params = new URLSearchParams(window.location.search)) {
    return (params.has('code') || params.has('error')) && params.has('state');
  }

  // The code for tokens. Returns { tokens, returnTo }; throws OidcError.
  async handleCallback(params = new URLSearchParams(window.location.search)) {
    const raw = sessionStorage.getItem(`${this.prefix}.pending`);
    sessionStorage.removeItem(`${this.prefix}.pending`); // one use, whatever happens
    let pending = null;
    try {
      pending = raw ? JSON.parse(raw) : null;
    } catch {
      pending = null;
    }
    if (!pending || params.get('state') !== pending.state) {
      throw new OidcError('refused', 'state does not match');
    }
    if (params.has('error')) throw new OidcError('refused', params.get('error'));
    // RFC 9207: when the issuer names itself, it must be ours (mix-up attacks).
    if (params.has('iss') && params.get('iss') !== this.issuer) {
      throw new OidcError('refused', 'iss does not match');
    }
    const tokens = await this._tokenRequest({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: this.redirectUri,
      code_verifier: pending.verifier,
    });
    const id = tokens.id_token ? jwtClaims(tokens.id_token) : null;
    const audience = id && (Array.isArray(id.aud) ? id.aud : [id.aud]);
    if (!id || id.nonce !== pending.nonce || id.iss !== this.issuer || !audience.includes(this.clientId)) {
      this.clear();
      throw new OidcError('refused', 'id token does not match this login');
    }
    return { tokens, returnTo: pending.returnTo };
  }

  // A new access token with the refresh token. Throws OidcError('expired') when the issuer
  // no longer knows the session, 'unreachable' when it does not answer.
  async refresh() {
    const session = this.session();
    if (!session || !session.refresh_token) throw new OidcError('expired', 'no refresh token');
    return this._tokenRequest({ grant_type: 'refresh_token', refresh_token: session.refresh_token });
  }

  // Refresh before the access token expires, again and again; onToken(access token) after
  // each refresh, onFailure(OidcError) when it cannot (an unreachable issuer is tried again
  // every RETRY ms while the access token is still valid).
  keepFresh(onToken, onFailure, delay = null) {
    clearTimeout(this._timer);
    const session = this.session();
    if (!session || !session.refresh_token) return;
    const left = session.expires_at - Date.now();
    const lifetime = Math.max(session.expires_at - session.obtained_at, 1000);
    // Well before the end: a minute early, or halfway for short-lived tokens.
    const due = delay ?? (lifetime > 120_000 ? left - 60_000 : left - lifetime / 2);
    this._timer = setTimeout(async () => {
      try {
        const tokens = await this.refresh();
        onToken(tokens.access_token);
        this.keepFresh(onToken, onFailure);
      } catch (error) {
        const current = this.session();
        if (error.kind === 'unreachable' && current && current.expires_at > Date.now() + RETRY) {
          this.keepFresh(onToken, onFailure, RETRY);
          return;
        }
        onFailure(error);
      }
    }, Math.max(due, 1000));
  }

  // RP-initiated logout: the issuer ends its session, then sends the browser back.
  async logout() {
    clearTimeout(this._timer);
    const session = this.session();
    this.clear();
    let meta;
    try {
      meta = await this.metadata();
    } catch {
      meta = null;
    }
    if (!meta || !meta.end_session_endpoint) {
      window.location.assign(this.postLogoutRedirectUri);
      return;
    }
    const query = new URLSearchParams({
      client_id: this.clientId,
      post_logout_redirect_uri: this.postLogoutRedirectUri,
    });
    if (session && session.id_token) query.set('id_token_hint', session.id_token);
    window.location.assign(`${meta.end_session_endpoint}?${query}`);
  }

  session() {
    const raw = sessionStorage.getItem(`${this.prefix}.session`);
    try {
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  clear() {
    clearTimeout(this._timer);
    sessionStorage.removeItem(`${this.prefix}.session`);
  }

  // Remembers the issuer and client too, so any page can restore this client (fromSession).
  _store(tokens) {
    const previous = this.session() || {};
    const now = Date.now();
    const session = {
      issuer: this.issuer,
      client_id: this.clientId,
      redirect_uri: this.redirectUri,
      post_logout_redirect_uri: this.postLogoutRedirectUri,
      access_token: tokens.access_token,
      // A refresh may omit what did not change.
      refresh_token: tokens.refresh_token || previous.refresh_token || null,
      id_token: tokens.id_token || previous.id_token || null,
      obtained_at: now,
      expires_at: now + Number(tokens.expires_in || 60) * 1000,
    };
    sessionStorage.setItem(`${this.prefix}.session`, JSON.stringify(session));
  }

  async _tokenRequest(form) {
    const meta = await this.metadata();
    let response;
    try {
      response = await fetch(meta.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({ client_id: this.clientId, ...form }),
        cache: 'no-store',
      });
    } catch {
      throw new OidcError('unreachable', meta.token_endpoint);
    }
    if (response.status >= 500) throw new OidcError('unreachable', `HTTP ${response.status}`);
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    if (!response.ok || !body.access_token) {
      // invalid_grant: the code or the refresh token is no longer valid (session ended).
      const kind = form.grant_type === 'refresh_token' ? 'expired' : 'refused';
      if (form.grant_type === 'refresh_token') this.clear();
      throw new OidcError(kind, body.error || `HTTP ${response.status}`);
    }
    this._store(body);
    return body;
  }
}

// The client whose session this tab holds under `prefix`, or null.
export function fromSession(prefix) {
  const raw = sessionStorage.getItem(`${prefix}.session`);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw);
    return new OidcClient({
      issuer: s.issuer,
      clientId: s.client_id,
      redirectUri: s.redirect_uri,
      postLogoutRedirectUri: s.post_logout_redirect_uri,
      prefix,
    });
  } catch {
    return null;
  }
}

export const messages = DUTCH;
