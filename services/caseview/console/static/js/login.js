// Login: in development a dev token for a chosen user/teams/role (minted by caseview's
// development-only endpoint); everywhere, pasting a token from the municipality's issuer.

import { $, el, fieldError, notice, param } from './dom.js';
import { ROLES, TEAMS } from './labels.js';
import { returnTarget, signIn, signOut } from './session.js';

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

if (param('reden') === 'verlopen') {
  notice(messages, 'Uw sessie is verlopen of het token is niet geldig. Meld u opnieuw aan.', 'warning');
}
signOut(); // on the login page nobody is logged in
devLogin();
