// What every page shares: who is logged in, the menu, and the live-update status.

import { $, clock, el, replace } from './dom.js';
import { ROLES, team } from './labels.js';
import { logOut, purpose, queueTeams, requireLogin } from './session.js';
import { stateText } from './stream.js';

export function start() {
  const user = requireLogin();
  const who = $('#gebruiker');
  const roles = user.roles.map((r) => ROLES[r] || r).join(', ') || 'geen rol';
  const teams = user.teams.map(team).join(', ') || 'geen team';
  replace(
    who,
    el('span', { class: 'who' }, 'Aangemeld als ', el('strong', {}, user.name || user.sub)),
    el('span', { class: 'who-detail' }, `${roles} · ${teams}`),
    el('button', {
      type: 'button',
      class: 'button-quiet',
      onclick: logOut,
    }, 'Afmelden'),
  );
  const queues = queueTeams(user);
  const queueLink = document.querySelector('#menu-wachtrij');
  if (queueLink && queues.length === 0) queueLink.closest('li').hidden = true;
  // The team's link suggestions: a page of its own, offered to whoever has a queue.
  const menu = document.querySelector('nav.menu ul');
  if (menu && queues.length) {
    const here = window.location.pathname.endsWith('/suggesties.html');
    menu.append(el('li', {}, el('a', { href: 'suggesties.html', 'aria-current': here ? 'page' : null }, 'Koppelingen')));
  }
  const why = document.querySelector('#doel');
  if (why) {
    replace(why, purpose()
      ? ['Doel van inzage: ', el('strong', {}, purpose())]
      : 'Geen doel van inzage opgegeven (vul het in bij Zoeken).');
  }
  return user;
}

// The live region: connection state (role=status) and the latest update (aria-live).
export function liveStatus(state) {
  const status = document.querySelector('#live-status');
  if (!status) return;
  status.dataset.state = state;
  replace(status, 'Live bijwerken: ', el('strong', {}, stateText(state)));
}

export function announce(text) {
  const region = document.querySelector('#live-melding');
  if (!region) return;
  replace(region, el('time', { datetime: new Date().toISOString() }, clock()), ' ', text);
}

export function setTitle(text) {
  document.title = `${text} — Eenloket console`;
}
