// A team's work queue: open cases it owns or takes part in, live.

import { api, explain } from './api.js';
import { $, badge, caseLink, day, el, notice, param, replace, time } from './dom.js';
import { channel, status, team } from './labels.js';
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
const statusFilter = $('#statusfilter');
let chosen = param('team');
let sort = param('volgorde') === 'due' ? 'due' : 'age';
let only = param('status') || '';
let cursor = null;
let stream = null;
let refresh = null;
let touched = new Set();

const DAY = 24 * 3600 * 1000;
const AGES = {
  'under-1-day': 'Korter dan een dag',
  '1-7-days': '1 tot 7 dagen',
  '1-4-weeks': '1 tot 4 weken',
  'over-4-weeks': 'Langer dan 4 weken',
};

// How long a case has been open, in words a KCC employee reads at a glance.
export function age(iso, now = Date.now()) {
  const days = Math.floor((now - new Date(iso).getTime()) / DAY);
  if (days < 1) return 'vandaag';
  if (days < 14) return days === 1 ? '1 dag' : `${days} dagen`;
  return `${Math.floor(days / 7)} weken`;
}

function row(item) {
  const fresh = touched.has(item.id);
  const passedAround = item.handover_count >= 3;
  return el(
    'tr',
    { class: fresh ? 'row-fresh' : null, dataset: { caseId: item.id } },
    el('th', { scope: 'row' }, caseLink(item.id, item.number), fresh ? [' ', badge('bijgewerkt', 'new')] : null),
    el(
      'td',
      {},
      item.redacted ? 'Afgeschermd' : item.subject || 'Geen onderwerp',
      item.redacted ? null : [el('br'), el('span', { class: 'muted' }, item.product || 'Product nog niet bepaald')],
    ),
    el('td', {}, item.resident || 'Onbekend'),
    el('td', {}, item.channel ? channel(item.channel) : '—'),
    el('td', {}, item.redacted ? '—' : status(item.status)),
    el('td', {}, item.role === 'owner' ? 'Eigenaar' : 'Deelnemer'),
    el('td', {}, age(item.opened_at), el('br'), el('span', { class: 'muted' }, 'sinds ', time(item.opened_at, day))),
    el('td', {}, time(item.due_at, day), item.overdue ? [' ', badge('te laat', 'late')] : null),
    el(
      'td',
      { class: 'number' },
      String(item.handover_count),
      passedAround ? [' ', badge('van het kastje naar de muur', 'late')] : null,
    ),
  );
}

async function overview() {
  const o = await api(`/v1/teams/${encodeURIComponent(chosen)}/overview`);
  // Each figure its own group (a div in the dl), so the grid places label and value together.
  const figure = (term, value) => el('div', { class: 'figure' }, el('dt', {}, term), el('dd', {}, String(value)));
  replace(
    $('#overzicht-cijfers'),
    figure('Open zaken (achterstand)', o.backlog),
    figure('Over de termijn (normoverschrijding)', o.overdue),
    figure('Minstens één keer overgedragen', o.handed_over),
    figure('Overdrachten samen', o.handovers),
    figure(`${o.passed_around_from} keer of vaker overgedragen`, o.passed_around),
    figure('Oudste open zaak', o.oldest_opened_at ? age(o.oldest_opened_at) : '—'),
  );
  replace($('#leeftijd-rijen'), o.ages.map((a) => el('tr', {}, el('th', { scope: 'row' }, AGES[a.bucket] || a.bucket), el('td', { class: 'number' }, String(a.count)))));
}

async function load({ reset }) {
  const query = new URLSearchParams({ sort, limit: '50' });
  if (only) query.set('status', only);
  if (!reset && cursor) query.set('cursor', cursor);
  const page = await api(`/v1/teams/${encodeURIComponent(chosen)}/queue?${query}`);
  const rows = page.items.map(row);
  if (reset) replace(body, rows.length ? rows : el('tr', {}, el('td', { colspan: 9 }, 'Geen open zaken.')));
  else body.append(...rows);
  cursor = page.next_cursor;
  more.hidden = !cursor;
  const total = page.total.capped ? `meer dan ${page.total.value}` : page.total.value;
  const which = only ? ` met status ${status(only)}` : '';
  $('#wachtrij-aantal').textContent = `${total} open ${page.total.value === 1 ? 'zaak' : 'zaken'}${which}, ${sort === 'due' ? 'eerste termijn eerst' : 'oudste eerst'}.`;
  if (reset) await overview();
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
  statusFilter.value = only;
  $('#wachtrijformulier').addEventListener('submit', (event) => {
    event.preventDefault();
    chosen = select.value;
    sort = sorting.value;
    only = statusFilter.value;
    const query = new URLSearchParams({ team: chosen, volgorde: sort });
    if (only) query.set('status', only);
    window.history.replaceState(null, '', `?${query}`);
    show();
  });
  more.addEventListener('click', () => load({ reset: false }).catch((error) => notice(messages, explain(error), 'error')));
  show();
}

main();
