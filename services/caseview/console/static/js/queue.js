// A team's work queue: open cases it owns or takes part in, live.

import { api, explain } from './api.js';
import { $, badge, caseLink, day, el, notice, param, replace, time } from './dom.js';
import { status, team } from './labels.js';
import { announce, liveStatus, setTitle, start } from './layout.js';
import { purpose, queueTeams, setPurpose } from './session.js';
import { openStream } from './stream.js';
import { title } from './timeline.js';

const user = start();
const messages = $('#melding');
const body = $('#wachtrij');
const more = $('#meer');
const teams = queueTeams(user);
const select = $('#team');
const sorting = $('#sortering');
let chosen = param('team');
let sort = param('volgorde') === 'due' ? 'due' : 'age';
let cursor = null;
let stream = null;
let refresh = null;
let touched = new Set();

function row(item) {
  const fresh = touched.has(item.id);
  return el(
    'tr',
    { class: fresh ? 'row-fresh' : null, dataset: { caseId: item.id } },
    el('th', { scope: 'row' }, caseLink(item.id, item.number), fresh ? [' ', badge('bijgewerkt', 'new')] : null),
    el('td', {}, item.redacted ? 'Afgeschermd' : item.product || 'Nog niet bepaald'),
    el('td', {}, item.redacted ? '—' : status(item.status)),
    el('td', {}, item.role === 'owner' ? 'Eigenaar' : 'Deelnemer'),
    el('td', {}, time(item.opened_at, day)),
    el('td', {}, time(item.due_at, day), item.overdue ? [' ', badge('te laat', 'late')] : null),
    el('td', { class: 'number' }, String(item.handover_count)),
    el('td', {}, time(item.last_activity_at)),
  );
}

async function load({ reset }) {
  const query = new URLSearchParams({ sort, limit: '50' });
  if (!reset && cursor) query.set('cursor', cursor);
  const page = await api(`/v1/teams/${encodeURIComponent(chosen)}/queue?${query}`);
  const rows = page.items.map(row);
  if (reset) replace(body, rows.length ? rows : el('tr', {}, el('td', { colspan: 8 }, 'Geen open zaken.')));
  else body.append(...rows);
  cursor = page.next_cursor;
  more.hidden = !cursor;
  const total = page.total.capped ? `meer dan ${page.total.value}` : page.total.value;
  $('#wachtrij-aantal').textContent = `${total} open ${page.total.value === 1 ? 'zaak' : 'zaken'}, ${sort === 'due' ? 'eerste termijn eerst' : 'oudste eerst'}.`;
}

function onEvent({ data: entry }) {
  if (!entry) return;
  if (entry.case_id) touched.add(entry.case_id);
  const number = entry.data?.case_number;
  announce(`Wachtrij bijgewerkt${number ? ` (${number})` : ''}: ${title(entry)}`);
  clearTimeout(refresh);
  refresh = setTimeout(() => load({ reset: true }).catch((error) => notice(messages, explain(error), 'error')), 300);
}

async function show() {
  setTitle(`Wachtrij ${team(chosen)}`);
  $('#titel').textContent = `Wachtrij ${team(chosen)}`;
  $('#wachtrij-bijschrift').textContent = `Open zaken van ${team(chosen)}`;
  touched = new Set();
  if (stream) stream.stop();
  stream = openStream(`/v1/teams/${encodeURIComponent(chosen)}/events`, { onEvent, onState: liveStatus });
  await stream.opened;
  try {
    await load({ reset: true });
    notice(messages, '');
  } catch (error) {
    notice(messages, explain(error), 'error');
  }
}

function main() {
  if (!teams.length) {
    notice(messages, 'Met uw rol of teams heeft u geen wachtrij.', 'warning');
    $('#wachtrijformulier').hidden = true;
    liveStatus('closed');
    return;
  }
  if (!purpose()) setPurpose('Werkvoorraad van het team');
  if (!teams.includes(chosen)) chosen = teams[0];
  for (const id of teams) select.append(el('option', { value: id }, team(id)));
  select.value = chosen;
  sorting.value = sort;
  $('#wachtrijformulier').addEventListener('submit', (event) => {
    event.preventDefault();
    chosen = select.value;
    sort = sorting.value;
    const query = new URLSearchParams({ team: chosen, volgorde: sort });
    window.history.replaceState(null, '', `?${query}`);
    show();
  });
  more.addEventListener('click', () => load({ reset: false }).catch((error) => notice(messages, explain(error), 'error')));
  show();
}

main();
