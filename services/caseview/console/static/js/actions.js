// Acting on a case: note, status, participating teams, close — and the feedback every
// command gets: a refusal by caseview (4xx) at the control that sent it, focus there; a
// rejection by the router later (GET /v1/commands/{id}, or the stream) as a notice to
// the sender on this page. Never silently nothing.

import { api, explain } from './api.js';
import { $, el, fieldError, notice, replace } from './dom.js';
import { STATUSES, TEAMS, team } from './labels.js';
import { watchCommand } from './commands.js';
import { announce } from './layout.js';

const watching = new Map(); // command id -> watch, so a rejection on the stream checks at once

// Sends one command; `control` is where a refusal is shown, `box` the form's status line.
// Returns the 202 body, or null when caseview refused it.
export async function sendCommand({ path, body, control, box, what, done, headers = {} }) {
  const page = $('#melding');
  fieldError(control, '');
  try {
    const accepted = await api(path, { method: 'POST', body, headers });
    notice(box, `${what} verzonden; wacht op bevestiging…`, 'info');
    const watch = watchCommand(accepted.command_id, {
      onApplied: () => {
        watching.delete(accepted.command_id);
        notice(box, done, 'ok');
        announce(done);
      },
      onRejected: (status) => {
        watching.delete(accepted.command_id);
        const text = `${what} is geweigerd: ${status.detail || status.reason || 'geen reden bekend'}`;
        notice(box, text, 'error');
        notice(page, `Uw opdracht is niet uitgevoerd. ${text}`, 'error');
      },
      onUnknown: () => {
        watching.delete(accepted.command_id);
        notice(box, `Nog geen bevestiging van: ${what}. Kijk straks in de geschiedenis of het is gelukt.`, 'info');
      },
    });
    watching.set(accepted.command_id, watch);
    return accepted;
  } catch (error) {
    notice(box, '', 'info');
    fieldError(control, explain(error));
    control.focus();
    return null;
  }
}

// A rejection arrived on the stream: ask its status now (the notice says why, in Dutch).
export function rejectedOnStream(entry) {
  watching.get(entry.data?.command_id)?.now();
}

function options(select, first, entries) {
  const chosen = select.value;
  replace(select, el('option', { value: '' }, first), entries.map(([id, name]) => el('option', { value: id }, name)));
  if (entries.some(([id]) => id === chosen)) select.value = chosen;
}

export function renderActions(c, user) {
  const section = $('#acties');
  const open = !c.closed_at && !c.redacted;
  const acts = user.roles.some((r) => ['kcc', 'member', 'lead'].includes(r));
  const owner = user.teams.includes(c.owner_team);
  const involved = owner || c.participants.some((t) => user.teams.includes(t)) || user.roles.includes('kcc');
  section.hidden = false;
  const canNote = acts && involved && !c.redacted;
  $('#notitieformulier').hidden = !canNote;
  $('#eigenaar-acties').hidden = !(acts && owner && open);
  $('#acties-uitleg').textContent = !canNote
    ? 'Alleen het eigenaar-team, deelnemende teams en het klantcontactcentrum werken aan deze zaak.'
    : owner && open
      ? 'Elke actie wordt met uw naam bij de zaak vastgelegd.'
      : `Notities kunt u toevoegen. Status, deelnemers en afhandelen: alleen ${team(c.owner_team)} (de eigenaar)${open ? '' : ', en alleen zolang de zaak open is'}.`;
  options($('#nieuwe-status'), 'Kies een status', Object.entries(STATUSES).filter(([id]) => id !== 'afgehandeld' && id !== c.status));
  options($('#deelnemer-team'), 'Kies een team', Object.entries(TEAMS).filter(([id]) => id !== c.owner_team && !c.participants.includes(id)));
  options($('#weg-team'), c.participants.length ? 'Kies een team' : 'Geen deelnemende teams', c.participants.map((id) => [id, team(id)]));
}

// The form's fields go to the API as they are: its refusals (empty, too long, the same
// status) are the ones shown, so the console never contradicts it.
export function wireActions(caseId) {
  const base = `/v1/cases/${caseId}`;
  const on = (form, handler) => $(form).addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = event.target.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await handler();
    } finally {
      button.disabled = false;
    }
  });
  on('#notitieformulier', async () => {
    const text = $('#notitie-tekst');
    const sent = await sendCommand({
      path: `${base}/notes`, body: { text: text.value }, control: text, box: $('#notitie-status'),
      what: 'De notitie', done: 'Notitie toegevoegd.',
    });
    if (sent) text.value = '';
  });
  on('#statusformulier', async () => {
    const select = $('#nieuwe-status');
    const label = STATUSES[select.value] || select.value;
    await sendCommand({
      path: `${base}/status`, body: { status: select.value }, control: select, box: $('#status-status'),
      what: `De status '${label}'`, done: `Status gewijzigd in '${label}'.`,
    });
  });
  on('#deelnameformulier', async () => {
    const select = $('#deelnemer-team');
    const reason = $('#deelnemer-reden');
    const name = team(select.value);
    const sent = await sendCommand({
      path: `${base}/participants`, body: { team: select.value, reason: reason.value.trim() || null },
      control: select, box: $('#deelnemer-status'),
      what: `Deelname van ${name}`, done: `${name} neemt deel aan de zaak.`,
    });
    if (sent) reason.value = '';
  });
  on('#verwijderformulier', async () => {
    const select = $('#weg-team');
    const reason = $('#weg-reden');
    const name = team(select.value);
    const sent = await sendCommand({
      path: `${base}/participant-removals`, body: { team: select.value, reason: reason.value.trim() || null },
      control: select, box: $('#weg-status'),
      what: `Verwijderen van ${name}`, done: `${name} neemt niet meer deel.`,
    });
    if (sent) reason.value = '';
  });
  on('#afhandelformulier', async () => {
    const result = $('#resultaat');
    const sent = await sendCommand({
      path: `${base}/close`, body: { result: result.value }, control: result, box: $('#afhandelen-status'),
      what: 'Het afhandelen', done: 'De zaak is afgehandeld.',
    });
    if (sent) result.value = '';
  });
}
