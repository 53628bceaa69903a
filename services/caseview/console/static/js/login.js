// Login: through the municipality's issuer when caseview names one (config.json; OIDC
// code flow with PKCE, oidc.js; this page is also the redirect URI); in development a dev
// token for a chosen user/teams/role (minted by caseview's development-only endpoint);
// everywhere, pasting a token from the municipality's issuer.

import { $, el, fieldError, notice, param } from './dom.js';
import { ROLES, TEAMS } from './labels.js';
import { OidcClient, fromSession, messages as oidcMessages } from './oidc.js';
import { OIDC, returnTarget, signIn, signOut } from './session.js';

const messages = $('#melding');

function done() {
  window.location.replace(returnTarget(param('terug')));
}

async function devLogin() {
  let info;
  try {
    const response = await fetch('dev', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) return; // production (or issuer keys configured): no dev login
    info = await response.json();
  } catch {
    return;
  }
  const role = $('#rol');
  for (const id of info.roles) role.append(el('option', { value: id }, ROLES[id] || id));
  role.value = 'kcc';
  const teams = $('#teams');
  for (const [id, name] of Object.entries(TEAMS)) {
    const box = el('input', { type: 'checkbox', id: `team-${id}`, name: 'teams', value: id });
    box.checked = id === 'kcc';
    teams.append(el('div', { class: 'checkbox' }, box, el('label', { for: `team-${id}` }, name)));
  }
  $('#ontwikkel').hidden = false;

  $('#ontwikkelformulier').addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = $('#gebruiker-id');
    const name = user.value.trim();
    const valid = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name);
    fieldError(user, valid ? '' : 'Vul een gebruikersnaam in: letters, cijfers, punt, streepje.');
    const chosen = [...document.querySelectorAll('#teams input:checked')].map((b) => b.value);
    const teamsError = $('#teams-fout');
    teamsError.textContent = chosen.length ? '' : 'Kies minstens één team.';
    teamsError.hidden = chosen.length > 0;
    if (!valid) {
      user.focus();
      return;
    }
    if (!chosen.length) {
      document.querySelector('#teams input').focus();
      return;
    }
    try {
      const response = await fetch('dev/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ user: name, teams: chosen, roles: [role.value] }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { token } = await response.json();
      signIn(token);
      done();
    } catch {
      notice(messages, 'Aanmelden is niet gelukt. Probeer het opnieuw.', 'error');
    }
  });
}

// { issuer, client_id, dev_login } from caseview; when it cannot say, ask for the dev login.
async function loginConfig() {
  try {
    const response = await fetch('config.json', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (response.ok) return await response.json();
  } catch {
    // below
  }
  return { issuer: '', client_id: '', dev_login: true };
}

function oidcClient(config) {
  const page = new URL('aanmelden.html', window.location.href).href; // no query: exact match
  return new OidcClient({
    issuer: config.issuer,
    clientId: config.client_id,
    redirectUri: page,
    postLogoutRedirectUri: `${page}?reden=afgemeld`,
    prefix: OIDC,
  });
}

// Back from the issuer's login page: the code for tokens, then on to the page asked for.
async function finishLogin(client) {
  try {
    const { tokens, returnTo } = await client.handleCallback();
    signIn(tokens.access_token);
    window.location.replace(returnTarget(returnTo));
  } catch (error) {
    window.history.replaceState(null, '', 'aanmelden.html'); // the used code off the address bar
    notice(messages, error.message, 'error');
  }
}

// The access token expired while the session at the issuer may live on: refresh first.
async function resume() {
  const client = fromSession(OIDC);
  if (!client) return 'verlopen';
  try {
    signIn((await client.refresh()).access_token);
    done();
    return null;
  } catch (error) {
    return error.kind === 'unreachable' ? 'onbereikbaar' : 'verlopen';
  }
}

function offerOidc(config) {
  const client = oidcClient(config);
  $('#inloggen').hidden = false;
  const button = $('#inloggen-knop');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await client.login(returnTarget(param('terug')));
    } catch (error) {
      notice(messages, error.message, 'error');
      button.disabled = false;
    }
  });
  // Say now, not after the click, when the login service does not answer.
  client.metadata().catch((error) => notice(messages, error.message, 'error'));
  return client;
}

$('#tokenformulier').addEventListener('submit', (event) => {
  event.preventDefault();
  const field = $('#token');
  try {
    signIn(field.value);
  } catch (error) {
    fieldError(field, error.message);
    field.focus();
    return;
  }
  done();
});

async function main() {
  let reason = param('reden');
  if (reason === 'vernieuwen') {
    reason = await resume();
    if (reason === null) return; // refreshed: on our way back
  }
  const settings = await loginConfig();
  const config = settings.issuer && settings.client_id ? settings : null;
  const callback = config && new URLSearchParams(window.location.search).has('state');
  if (!callback) signOut(); // on the login page nobody is logged in
  if (config) {
    const client = offerOidc(config);
    if (client.isCallback()) await finishLogin(client);
  }
  const said = {
    verlopen: config
      ? [oidcMessages.expired, 'warning']
      : ['Uw sessie is verlopen of het token is niet geldig. Meld u opnieuw aan.', 'warning'],
    onbereikbaar: [oidcMessages.unreachable, 'error'],
    afgemeld: ['U bent afgemeld.', 'info'],
  }[reason];
  if (said) notice(messages, ...said);
  if (settings.dev_login) devLogin();
}

main();
