// A case: owner, participants, handovers with reasons, why it was routed here, its
// history (live), and — for the owning team — handing it over with a reason. Replying
// (compose.js) and the other actions (actions.js) have their own modules.

import { api, explain } from './api.js';
import { $, badge, day, el, fieldError, notice, partyLink, replace, time, uuidParam } from './dom.js';
import { CASE_RULES, FLAGS, TEAMS, ownerRule, status, team } from './labels.js';
import { watchCommand } from './commands.js';
import { announce, liveStatus, setTitle, start } from './layout.js';
import { openStream } from './stream.js';
import { entryItem, title } from './timeline.js';
import { rejectedOnStream, renderActions, wireActions } from './actions.js';
import { renderComposer, replyEntry, replyStatusChanged, wireComposer } from './compose.js';

const user = start();
const messages = $('#melding');
const list = $('#geschiedenis');
const more = $('#meer');
const caseId = uuidParam('id');
const seen = new Set();
let current = null;
let cursor = null;
let refresh = null;
let total = { value: 0, capped: false };
let pending = null; // the handover we sent: { commandId, toTeam, watch }
let idempotencyKey = null;

const CHANGES = /case\.(handed-over|participant-added|participant-removed|status-changed|closed)$|message\.routed$|contact\.outbound/;

function fact(term, ...value) {
  return [el('dt', {}, term), el('dd', {}, ...value)];
}

function renderCase(c) {
  current = c;
  setTitle(`Zaak ${c.number}`);
  $('#titel').textContent = `Zaak ${c.number}`;
  $('#kruimel').textContent = c.number;
  const back = $('#kruimel-partij');
  back.href = `partij.html?id=${encodeURIComponent(c.party_id)}`;
  back.textContent = 'Dossier';
  replace(
    $('#ondertitel'),
    c.redacted ? 'Vertrouwelijke zaak' : c.product || 'Nog geen product bepaald',
    ' ',
    c.confidential ? badge('vertrouwelijk', 'warning') : null,
  );
  replace(
    $('#overzicht'),
    fact('Eigenaar', el('strong', { id: 'eigenaar' }, team(c.owner_team))),
    fact('Deelnemende teams', c.participants.length ? c.participants.map(team).join(', ') : 'Geen'),
    fact('Status', c.redacted ? 'Afgeschermd' : status(c.status)),
    fact('Geopend', time(c.opened_at)),
    fact('Termijn', time(c.due_at, day), c.overdue ? [' ', badge('te laat', 'late')] : null),
    fact('Aantal overdrachten', String(c.handover_count),
      c.handover_count >= 3 ? [' ', badge('van het kastje naar de muur?', 'late')] : null),
    fact('Inwoner of ondernemer', partyLink(c.party_id, 'Naar het dossier')),
    c.closed_at ? fact('Afgehandeld', time(c.closed_at), c.result ? ` — ${c.result}` : '') : null,
  );
  renderHandovers(c);
  renderRouting(c);
  renderHandoverForm(c);
  renderActions(c, user);
  renderComposer(c, user).catch((error) => notice($('#antwoord-status'), explain(error), 'error'));
}

// Reply entries are described by the composer's module; the rest by the shared timeline.
function item(entry, options) {
  const reply = !entry.redacted && replyEntry(entry);
  if (!reply) return entryItem(entry, options);
  const node = entryItem(entry, options);
  const [heading, body] = reply;
  const article = node.querySelector('article');
  article.querySelector('h3').textContent = heading;
  article.querySelectorAll(':scope > :not(h3):not(.entry-meta)').forEach((n) => n.remove());
  article.append(...body.filter(Boolean));
  return node;
}

function itemTitle(entry) {
  return (!entry.redacted && replyEntry(entry)?.[0]) || title(entry);
}

function renderHandovers(c) {
  const rows = (c.handovers || []).map((h) => el(
    'tr',
    {},
    el('td', {}, time(h.at)),
    el('td', {}, team(h.from_team)),
    el('td', {}, team(h.to_team)),
    el('td', {}, h.by, h.by_team ? ` (${team(h.by_team)})` : ''),
    el('td', {}, h.reason),
  ));
  replace($('#overdrachten'), rows);
  $('#overdrachten-tabel').hidden = rows.length === 0;
  $('#overdrachten-leeg').hidden = rows.length > 0;
  if (c.redacted) {
    $('#overdrachten-leeg').hidden = false;
    $('#overdrachten-leeg').textContent = 'Afgeschermd: alleen het eigenaar-team en deelnemende teams zien de overdrachten.';
  }
}

function renderRouting(c) {
  const box = $('#routering');
  if (c.redacted) {
    replace(box, el('p', {}, 'Afgeschermd: alleen het eigenaar-team en deelnemende teams zien de routering.'));
    return;
  }
  const items = (c.routing_explanations || []).map((r) => {
    const x = r.explanation || {};
    return el(
      'li',
      {},
      el('p', { class: 'entry-meta' }, 'Bericht van ', time(r.at)),
      el('dl', { class: 'facts facts-compact' },
        fact('Zaak', CASE_RULES[x.case_rule] || x.case_rule || '—'),
        fact('Team', ownerRule(x.owner_rule)),
        x.matched?.length ? fact('Herkend in het bericht', x.matched.join(', ')) : null,
        fact('Routeringsregels', `versie ${x.ruleset_version || '—'}`),
        (r.flags || []).length ? fact('Signalen', r.flags.map((f) => FLAGS[f.kind] || f.kind).join('; ')) : null),
      el('details', {}, el('summary', {}, 'Technische toelichting van de router'),
        el('p', { lang: 'en' }, x.case_detail || ''), el('p', { lang: 'en' }, x.owner_detail || '')),
    );
  });
  replace(box, items.length ? el('ol', { class: 'plain' }, items) : el('p', {}, 'Geen routeringsgegevens.'));
}

function renderHandoverForm(c) {
  const section = $('#overdragen');
  const mine = user.teams.includes(c.owner_team) && user.roles.some((r) => ['kcc', 'member', 'lead'].includes(r));
  const open = !c.closed_at && !c.redacted;
  section.hidden = false;
  const explanation = $('#overdragen-uitleg');
  const form = $('#overdrachtformulier');
  if (!mine || !open) {
    form.hidden = true;
    explanation.textContent = !open
      ? 'Een afgehandelde of afgeschermde zaak kan niet worden overgedragen.'
      : `Alleen ${team(c.owner_team)} (de eigenaar) kan deze zaak overdragen.`;
    return;
  }
  form.hidden = false;
  explanation.textContent = `U werkt voor ${team(c.owner_team)}, de eigenaar van deze zaak. De overdracht en de reden zijn zichtbaar voor iedereen die de zaak bekijkt.`;
  const select = $('#naar-team');
  const chosen = select.value;
  replace(select, el('option', { value: '' }, 'Kies een team'), Object.entries(TEAMS)
    .filter(([id]) => id !== c.owner_team)
    .map(([id, name]) => el('option', { value: id }, name)));
  if (chosen && chosen !== c.owner_team) select.value = chosen;
}

async function loadCase() {
  renderCase(await api(`/v1/cases/${caseId}`));
}

async function loadHistory({ reset }) {
  const query = new URLSearchParams({ limit: '25' });
  if (!reset && cursor) query.set('cursor', cursor);
  const page = await api(`/v1/cases/${caseId}/timeline?${query}`);
  if (reset) {
    list.replaceChildren();
    seen.clear();
  }
  for (const entry of page.items) {
    if (seen.has(entry.event_id)) continue;
    seen.add(entry.event_id);
    list.append(item(entry, { showCase: false }));
  }
  cursor = page.next_cursor;
  more.hidden = !cursor;
  total = { ...page.total };
  showCount();
}

function showCount() {
  const n = total.capped ? `meer dan ${total.value}` : total.value;
  $('#geschiedenis-aantal').textContent = `${n} ${total.value === 1 ? 'item' : 'items'}, nieuwste eerst.`;
}

function onEvent({ data: entry }) {
  if (!entry || seen.has(entry.event_id)) return;
  seen.add(entry.event_id);
  list.querySelectorAll('.entry-fresh').forEach((node) => node.classList.remove('entry-fresh'));
  list.prepend(item(entry, { showCase: false, fresh: true }));
  replyStatusChanged(entry);
  if (entry.type.endsWith('command.rejected')) rejectedOnStream(entry);
  total.value += total.capped ? 0 : 1;
  showCount();
  if (pending && entry.type.endsWith('command.rejected') && entry.data?.command_id === pending.commandId) {
    pending.watch.now(); // its status has the reason in Dutch
  } else if (pending && entry.type.endsWith('case.handed-over') && entry.data?.to_team === pending.toTeam) {
    handedOver(pending);
  }
  announce(`Nieuw in deze zaak: ${itemTitle(entry)}`);
  if (CHANGES.test(entry.type)) {
    clearTimeout(refresh);
    refresh = setTimeout(() => loadCase().catch((error) => notice(messages, explain(error), 'error')), 200);
  }
}

function handedOver(sent) {
  if (pending !== sent) return;
  sent.watch.stop();
  pending = null;
  notice($('#overdracht-status'), `Overgedragen aan ${team(sent.toTeam)}.`, 'ok');
}

// A handover the router refused (the case changed meanwhile) is shown to the person who
// sent it, in Dutch, whether or not it shows on this case's history.
function refused(sent, status) {
  if (pending !== sent) return;
  pending = null;
  notice($('#overdracht-status'), `Overdracht aan ${team(sent.toTeam)} geweigerd: ${status.detail || status.reason}`, 'error');
  announce('De overdracht is geweigerd.');
}

function watch(commandId, toTeam) {
  pending?.watch.stop();
  const sent = { commandId, toTeam };
  pending = sent;
  sent.watch = watchCommand(commandId, {
    onApplied: () => handedOver(sent),
    onRejected: (status) => refused(sent, status),
    onUnknown: () => {
      if (pending !== sent) return;
      pending = null;
      notice($('#overdracht-status'), 'Nog geen bevestiging van de overdracht. Kijk straks in de geschiedenis of die is gelukt.', 'info');
    },
  });
}

async function handOver(event) {
  event.preventDefault();
  const select = $('#naar-team');
  const reason = $('#reden');
  const okTeam = fieldError(select, select.value ? '' : 'Kies het team dat de zaak overneemt.');
  const okReason = fieldError(reason, reason.value.trim() ? '' : 'Vul de reden van de overdracht in.');
  if (!okTeam || !okReason) {
    (okTeam ? reason : select).focus();
    return;
  }
  const status = $('#overdracht-status');
  const button = $('#overdragen-knop');
  button.disabled = true;
  // The same key for a retry of this very handover: the router applies it once.
  idempotencyKey = idempotencyKey || crypto.randomUUID();
  try {
    const accepted = await api(`/v1/cases/${caseId}/handovers`, {
      method: 'POST',
      headers: { 'Idempotency-Key': idempotencyKey },
      body: { to_team: select.value, reason: reason.value.trim() },
    });
    const toTeam = select.value;
    watch(accepted.command_id, toTeam);
    idempotencyKey = null;
    reason.value = '';
    notice(status, `Overdracht aan ${team(toTeam)} verzonden; wacht op bevestiging…`, 'info');
  } catch (error) {
    notice(status, explain(error), 'error');
  } finally {
    button.disabled = false;
  }
}

async function main() {
  if (!caseId) {
    notice(messages, 'Geen (geldige) zaak gekozen.', 'error');
    return;
  }
  const stream = openStream(`/v1/cases/${caseId}/events`, { onEvent, onState: liveStatus });
  await stream.opened;
  try {
    await loadCase();
    await loadHistory({ reset: true });
  } catch (error) {
    stream.stop();
    notice(messages, explain(error), 'error');
    return;
  }
  $('#overdrachtformulier').addEventListener('submit', handOver);
  wireActions(caseId);
  wireComposer();
  for (const field of ['#naar-team', '#reden']) {
    $(field).addEventListener('input', () => { idempotencyKey = null; });
  }
  more.addEventListener('click', async () => {
    const last = list.lastElementChild;
    try {
      await loadHistory({ reset: false });
      last?.nextElementSibling?.querySelector('h3')?.focus();
    } catch (error) {
      notice(messages, explain(error), 'error');
    }
  });
}

main();
