// A party's file: identifiers, cases, and the unified timeline across channels, live.

import { api, explain } from './api.js';
import { $, badge, caseLink, day, el, notice, replace, time, uuidParam } from './dom.js';
import { CHANNELS, IDENTIFIERS, TRUST, evidenceText, status, team } from './labels.js';
import { installMerge, renderIdentity } from './identity.js';
import { announce, liveStatus, setTitle, start } from './layout.js';
import { openStream } from './stream.js';
import { entryItem, title } from './timeline.js';

start();
const messages = $('#melding');
const list = $('#tijdlijn');
const more = $('#meer');
const partyId = uuidParam('id');
const seen = new Set();
let numbers = new Map();
let channel = '';
let cursor = null;
let refresh = null;
let total = { value: 0, capped: false };

function showCount() {
  const n = total.capped ? `meer dan ${total.value}` : total.value;
  $('#tijdlijn-aantal').textContent = `${n} ${total.value === 1 ? 'item' : 'items'}${channel ? ` via ${CHANNELS[channel]}` : ''}, nieuwste eerst.`;
}

function caseRow(c) {
  return el(
    'tr',
    {},
    el('th', { scope: 'row' }, caseLink(c.id, c.number)),
    el('td', {}, c.redacted ? 'Afgeschermd' : c.product || 'Nog niet bepaald'),
    el('td', {}, c.redacted ? '—' : status(c.status)),
    el('td', {}, team(c.owner_team), c.participants.length
      ? el('span', { class: 'muted' }, ` + ${c.participants.map(team).join(', ')}`)
      : null),
    el('td', {}, c.closed_at ? ['Afgehandeld ', time(c.closed_at, day)] : time(c.due_at, day),
      c.overdue ? [' ', badge('te laat', 'late')] : null),
  );
}

async function loadParty() {
  const party = await api(`/v1/parties/${partyId}`);
  const name = party.display_name || 'Onbekende afzender';
  setTitle(`Dossier ${name}`);
  $('#titel').textContent = name;
  $('#kruimel').textContent = name;
  replace(
    $('#ondertitel'),
    party.provisional ? badge('voorlopig', 'warning') : badge('bekend', 'ok'),
    ` Dossier sinds ${day(party.created_at)}`,
    party.members.length > 1 ? ` · ${party.members.length} samengevoegde registraties` : '',
    party.suggested_links.length
      ? ` · ${party.suggested_links.length} voorgestelde koppeling(en) wachten op een besluit`
      : '',
  );
  replace($('#gegevens'), party.identifiers.map((i) => el(
    'tr',
    {},
    el('th', { scope: 'row' }, IDENTIFIERS[i.kind] || i.kind),
    el('td', { class: 'value' }, i.value),
    el(
      'td',
      {},
      badge(TRUST[i.trust] || i.trust, i.trust === 'authenticated' ? 'ok' : 'neutral'),
      ` ${evidenceText(i.evidence)}`,
    ),
  )));
  const cases = [...party.open_cases, ...party.closed_cases];
  numbers = new Map(cases.map((c) => [c.id, c.number]));
  renderIdentity(party, { onChanged: () => loadParty().catch(() => {}) });
  replace(
    $('#zaken'),
    cases.length ? cases.map(caseRow) : el('tr', {}, el('td', { colspan: 5 }, 'Geen zaken.')),
  );
}

async function loadTimeline({ reset }) {
  const query = new URLSearchParams({ limit: '25' });
  if (channel) query.set('channel', channel);
  if (!reset && cursor) query.set('cursor', cursor);
  const page = await api(`/v1/parties/${partyId}/timeline?${query}`);
  if (reset) {
    list.replaceChildren();
    seen.clear();
  }
  for (const entry of page.items) {
    if (seen.has(entry.event_id)) continue; // already arrived live
    seen.add(entry.event_id);
    list.append(entryItem(entry, { numbers }));
  }
  cursor = page.next_cursor;
  more.hidden = !cursor;
  total = { ...page.total };
  showCount();
}

function onEvent({ data: entry }) {
  if (!entry || seen.has(entry.event_id)) return;
  seen.add(entry.event_id);
  if (channel && entry.channel !== channel) return;
  list.querySelectorAll('.entry-fresh').forEach((node) => node.classList.remove('entry-fresh'));
  list.prepend(entryItem(entry, { fresh: true, numbers }));
  total.value += total.capped ? 0 : 1;
  showCount();
  announce(`Nieuw in de tijdlijn: ${title(entry)}`);
  // Cases, owners and identifiers may have changed: refresh the summary (once per burst).
  clearTimeout(refresh);
  refresh = setTimeout(() => loadParty().catch(() => {}), 300);
}

async function main() {
  if (!partyId) {
    notice(messages, 'Geen (geldig) dossier gekozen. Zoek eerst een inwoner of ondernemer.', 'error');
    return;
  }
  for (const [id, label] of Object.entries(CHANNELS)) $('#kanaal').append(el('option', { value: id }, label));
  // Connect first, then read the history: whatever commits in between comes live.
  const stream = openStream(`/v1/parties/${partyId}/events`, { onEvent, onState: liveStatus });
  await stream.opened;
  try {
    await loadParty();
    await loadTimeline({ reset: true });
  } catch (error) {
    stream.stop();
    notice(messages, explain(error), 'error');
    return;
  }
  installMerge();
  $('#filter').addEventListener('submit', async (event) => {
    event.preventDefault();
    channel = $('#kanaal').value;
    try {
      await loadTimeline({ reset: true });
    } catch (error) {
      notice(messages, explain(error), 'error');
    }
  });
  more.addEventListener('click', async () => {
    const last = list.lastElementChild;
    try {
      await loadTimeline({ reset: false });
      (last?.nextElementSibling?.querySelector('h3') || last)?.focus?.();
    } catch (error) {
      notice(messages, explain(error), 'error');
    }
  });
}

main();
