// A team's pending link suggestions (GET /v1/teams/{team}/link-suggestions): the ones that
// came from messages on the team's cases, oldest first. Deciding happens in the dossier.

import { api, explain } from './api.js';
import { $, badge, caseLink, el, notice, param, partyLink, replace, time } from './dom.js';
import { IDENTIFIERS, TRUST, channel, evidenceText, team } from './labels.js';
import { setTitle, start } from './layout.js';
import { queueTeams } from './session.js';

const user = start();
const teams = queueTeams(user);
const select = $('#team');
const list = $('#lijst');
const more = $('#meer');
let cursor = null;
let count = 0;

function row(s) {
  return el(
    'tr',
    {},
    el('td', {}, time(s.suggested_at)),
    el('td', {}, partyLink(s.party_id, s.party_name || 'Naam onbekend')),
    el('td', {}, `${IDENTIFIERS[s.identifier_kind] || s.identifier_kind || ''}: `,
      el('span', { class: 'value' }, s.identifier_value || '—'),
      ' ', badge(TRUST[s.identifier_trust] || 'opgegeven')),
    el('td', {}, partyLink(s.suggested_party_id, s.suggested_party_name || 'Naam onbekend'),
      el('span', { class: 'muted block' }, s.held_trust
        ? `${TRUST[s.held_trust] || s.held_trust}: ${evidenceText(s.held_evidence)}`
        : 'heeft dit gegeven niet (meer)')),
    el('td', {}, s.message_channel ? `${channel(s.message_channel)} ` : '', s.case_id ? caseLink(s.case_id, s.case_number) : ''),
    el('td', {}, el('a', {
      href: `partij.html?id=${encodeURIComponent(s.suggested_party_id)}#koppelingen-kop`,
      'aria-label': `Beoordelen: ${s.party_name || 'afzender'} en ${s.suggested_party_name || 'bestaand dossier'}`,
    }, 'Beoordelen')),
  );
}

async function load({ reset }) {
  const query = new URLSearchParams({ limit: '25' });
  if (!reset && cursor) query.set('cursor', cursor);
  const page = await api(`/v1/teams/${encodeURIComponent(select.value)}/link-suggestions?${query}`);
  if (reset) {
    list.replaceChildren();
    count = 0;
  }
  list.append(...page.items.map(row));
  count += page.items.length;
  cursor = page.next_cursor;
  more.hidden = !cursor;
  $('#tabel').hidden = count === 0;
  $('#aantal').textContent = count === 0
    ? `Geen voorgestelde koppelingen voor ${team(select.value)}.`
    : `${count}${cursor ? '+' : ''} voorgestelde ${count === 1 ? 'koppeling' : 'koppelingen'} voor ${team(select.value)}, oudste eerst.`;
}

async function main() {
  if (teams.length === 0) {
    notice($('#melding'), 'U zit niet in een team met een wachtrij.', 'warning');
    $('#teamformulier').hidden = true;
    $('#tabel').hidden = true;
    return;
  }
  for (const id of teams) select.append(el('option', { value: id }, team(id)));
  const wanted = param('team');
  if (wanted && teams.includes(wanted)) select.value = wanted;
  const show = async () => {
    setTitle(`Voorgestelde koppelingen ${team(select.value)}`);
    try {
      await load({ reset: true });
      notice($('#melding'), '');
    } catch (error) {
      notice($('#melding'), explain(error), 'error');
    }
  };
  $('#teamformulier').addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
  more.addEventListener('click', async () => {
    const last = list.lastElementChild;
    try {
      await load({ reset: false });
      last?.nextElementSibling?.querySelector('a')?.focus();
    } catch (error) {
      notice($('#melding'), explain(error), 'error');
    }
  });
  await show();
}

main();
