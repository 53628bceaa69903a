// The login page, also the page the issuer sends the resident back to (redirect URI). It says
// why the resident is here: logged out, session over, or the login service cannot be reached.

import { OidcError } from '/console/js/oidc.js';
import { alert, show } from './dom.js';
import { loginConfig, newClient, safeReturn, token } from './session.js';

const REASONS = {
  afgemeld: ['ok', 'U bent uitgelogd. Sluit de browser als u klaar bent op een gedeelde computer.'],
  verlopen: ['warning', 'U was een tijd niet actief. Daarom bent u uitgelogd. Log opnieuw in.'],
  onbereikbaar: ['error', 'Inloggen lukt nu niet. Probeer het over een paar minuten opnieuw.'],
  mislukt: ['error', 'Inloggen is niet gelukt. Probeer het opnieuw.'],
};

function say(reason) {
  const [kind, text] = REASONS[reason] || REASONS.mislukt;
  show('melding', alert(kind, text, { urgent: kind === 'error' }));
}

function failed(error) {
  say(error instanceof OidcError && error.kind === 'unreachable' ? 'onbereikbaar' : 'mislukt');
}

async function main() {
  const params = new URLSearchParams(window.location.search);
  const button = document.getElementById('inloggen');
  let config;
  try {
    config = await loginConfig();
  } catch {
    config = { issuer: '', client_id: '' };
  }
  if (!config.issuer) {
    say('onbereikbaar');
    button.disabled = true;
    return;
  }
  const client = newClient(config);
  if (client.isCallback(params)) {
    try {
      const { returnTo } = await client.handleCallback(params);
      window.location.replace(safeReturn(returnTo));
    } catch (error) {
      failed(error);
    }
    return;
  }
  if (params.has('reden')) say(params.get('reden'));
  else if (token()) {
    window.location.replace(safeReturn(params.get('terug')));
    return;
  }
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await client.login(safeReturn(params.get('terug')));
    } catch (error) {
      failed(error);
      button.disabled = false;
    }
  });
}

main();
