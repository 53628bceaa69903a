// Deciding identity on a party's file: the pending link suggestions with their evidence side
// by side (confirm, confirm and verify the address, or reject with a reason), merging another
// file into this one, and undoing a merge (showing first what goes back). Each decision is a
// command: sent, then confirmed live (GET /v1/commands/{id}, and the party's stream).

import { api, explain } from './api.js';
import { $, badge, caseLink, el, fieldError, notice, partyLink, replace, time } from './dom.js';
import { IDENTIFIERS, TRUST, channel, evidenceText } from './labels.js';
import { announce } from './layout.js';
import { watchCommand } from './commands.js';

let shown = '';
let partyId = null;
let reload = () => {};

function status(text, kind = 'info') {
  notice($('#identiteit-melding'), text, kind);
  if (kind !== 'error') announce(text);
}

// Sends one command; says "verzonden", then "vastgelegd" or the router's refusal.
async function send(path, body, { button, done, what }) {
  button.disabled = true;
  try {
    const accepted = await api(path, {
      method: 'POST',
      headers: { 'Idempotency-Key': crypto.randomUUID() },
      body,
    });
    status(`${what}: verzonden; wacht op bevestiging…`);
    watchCommand(accepted.command_id, {
      onApplied: () => {
        status(`${what}: ${done}.`, 'ok');
        reload();
      },
      onRejected: (s) => status(`${what} geweigerd: ${s.detail || s.reason || 'onbekende reden'}`, 'error'),
      onUnknown: () => status(`${what}: nog geen bevestiging. Kijk straks in de tijdlijn.`),
    });
  } catch (error) {
    status(explain(error), 'error');
  } finally {
    button.disabled = false;
  }
}

function rung(trust, evidence) {
  if (!trust) return 'heeft dit gegeven niet (meer)';
  return [badge(TRUST[trust] || trust, trust === 'authenticated' ? 'ok' : 'neutral'), ` ${evidenceText(evidence)}`];
}

function evidenceTable(s, n) {
  const kind = IDENTIFIERS[s.identifier_kind] || s.identifier_kind || 'gegeven';
  const row = (head, left, right) => el('tr', {}, el('th', { scope: 'row' }, head), el('td', {}, left), el('td', {}, right));
  return el(
    'table',
    { class: 'data evidence' },
    el('caption', { class: 'visually-hidden' }, `Bewijs voor koppeling ${n}, naast elkaar`),
    el('thead', {}, el('tr', {},
      el('td', {}),
      el('th', { scope: 'col' }, 'Afzender van het bericht'),
      el('th', { scope: 'col' }, 'Bestaand dossier met dit gegeven'))),
    el('tbody', {},
      row('Dossier',
        partyLink(s.party_id, s.party_name || 'Naam onbekend'),
        partyLink(s.suggested_party_id, s.suggested_party_name || 'Naam onbekend')),
      row(kind, el('span', { class: 'value' }, s.identifier_value || '—'), el('span', { class: 'value' }, s.identifier_value || '—')),
      row('Betrouwbaarheid', rung(s.identifier_trust, null), rung(s.held_trust, s.held_evidence)),
      row('Bericht',
        s.message_at
          ? [`Via ${channel(s.message_channel)}, `, time(s.message_at), s.case_id ? [', ', caseLink(s.case_id, s.case_number)] : '']
          : 'onbekend',
        '—')),
  );
}

function choice(name, value, text, checked = false) {
  const id = `${name}-${value}`;
  return el('div', { class: 'choice' },
    el('input', { type: 'radio', id, name, value, checked }),
    el('label', { for: id }, text));
}

function suggestionCard(s, n) {
  const other = s.direction === 'outgoing' ? s.suggested_party_name : s.party_name;
  const name = `besluit-${n}`;
  const reason = el('textarea', { id: `${name}-reden`, maxlength: '2000', 'aria-describedby': `${name}-reden-hint ${name}-reden-fout` });
  const button = el('button', { type: 'submit' }, 'Besluit vastleggen');
  const form = el('form', { novalidate: true },
    el('fieldset', { class: 'field' },
      el('legend', {}, 'Uw besluit'),
      choice(name, 'bevestigen', 'Zelfde persoon: dossiers samenvoegen', true),
      choice(name, 'verifieren', `Zelfde persoon, en het ${(IDENTIFIERS[s.identifier_kind] || 'gegeven').toLowerCase()} hoort bij deze persoon (geverifieerd)`),
      choice(name, 'afwijzen', 'Niet dezelfde persoon: afwijzen')),
    el('div', { class: 'field' },
      el('label', { for: `${name}-reden` }, 'Reden'),
      reason,
      el('p', { id: `${name}-reden-hint`, class: 'hint' }, 'Verplicht bij afwijzen.'),
      el('p', { id: `${name}-reden-fout`, class: 'field-error', hidden: true })),
    button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const pick = form.querySelector(`input[name="${name}"]:checked`).value;
    const why = reason.value.trim();
    if (!fieldError(reason, pick === 'afwijzen' && !why ? 'Vul de reden van het afwijzen in.' : '')) {
      reason.focus();
      return;
    }
    const confirm = pick !== 'afwijzen';
    send(`/v1/link-suggestions/${s.suggestion_id}/decision`, {
      confirm, verify_address: pick === 'verifieren', ...(why ? { reason: why } : {}),
    }, {
      button,
      what: confirm ? `Koppeling met ${other || 'het andere dossier'} bevestigen` : `Koppeling met ${other || 'het andere dossier'} afwijzen`,
      done: confirm ? 'bevestigd' : 'afgewezen',
    });
  });
  return el('article', { class: 'decision', 'aria-labelledby': `${name}-kop` },
    el('h4', { id: `${name}-kop` }, `Koppeling ${n}: ${other || 'onbekend dossier'}`),
    el('p', { class: 'muted' }, 'Voorgesteld ', time(s.suggested_at), s.direction === 'outgoing'
      ? ': de afzender van dit dossier gebruikte een gegeven van een ander dossier.'
      : ': een andere afzender gebruikte een gegeven van dit dossier.'),
    el('div', { class: 'table-scroll' }, evidenceTable(s, n)),
    form);
}

// What an undo moves back: the identifiers and cases the merged party brought.
function undoCard(m, party, n) {
  const ids = party.identifiers.filter((i) => i.party_id === m.merged_party_id);
  const cases = [...party.open_cases, ...party.closed_cases].filter((c) => c.party_id === m.merged_party_id);
  const folded = (party.folded_cases || []).filter((c) => c.party_id === m.merged_party_id);
  const name = `ongedaan-${n}`;
  const reason = el('textarea', { id: `${name}-reden`, maxlength: '2000', required: true, 'aria-describedby': `${name}-reden-fout` });
  const button = el('button', { type: 'submit' }, 'Samenvoeging ongedaan maken');
  const form = el('form', { novalidate: true },
    el('div', { class: 'field' },
      el('label', { for: `${name}-reden` }, 'Reden'),
      reason,
      el('p', { id: `${name}-reden-fout`, class: 'field-error', hidden: true })),
    button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const why = reason.value.trim();
    if (!fieldError(reason, why ? '' : 'Vul de reden in.')) {
      reason.focus();
      return;
    }
    send(`/v1/merges/${m.merge_id}/undo`, { reason: why }, { button, what: 'Samenvoeging ongedaan maken', done: 'gelukt, er zijn weer twee dossiers' });
  });
  return el('article', { class: 'decision', 'aria-labelledby': `${name}-kop` },
    el('h4', { id: `${name}-kop` }, `Samenvoeging ${n}`),
    el('p', {}, 'Samengevoegd ', time(m.merged_at), ` door ${m.merged_by || 'onbekend'}`, m.merge_reason ? `: ${m.merge_reason}` : '.'),
    el('details', {},
      el('summary', {}, 'Ongedaan maken…'),
      el('p', {}, 'Dit gaat terug naar het losse dossier ', partyLink(m.merged_party_id, 'dat is samengevoegd'), ':'),
      el('ul', {},
        ids.map((i) => el('li', {}, `${IDENTIFIERS[i.kind] || i.kind}: ${i.value}`)),
        cases.map((c) => el('li', {}, 'Zaak ', caseLink(c.id, c.number))),
        folded.map((c) => el('li', {}, `Zaak ${c.number} (nu samengevoegd met een zaak van dit dossier; de berichten gaan mee terug)`)),
        ids.length + cases.length + folded.length ? null : el('li', {}, 'Geen gegevens of zaken (alleen de geschiedenis).')),
      form));
}

// Called with every (re)read of the party; redraws only when suggestions or merges changed,
// so a live update does not wipe a reason being typed.
export function renderIdentity(party, { onChanged }) {
  partyId = party.party_id;
  reload = onChanged;
  const active = party.merges.filter((m) => m.active && m.party_id === party.party_id);
  const key = JSON.stringify([party.suggested_links.map((s) => s.suggestion_id), active.map((m) => m.merge_id)]);
  if (key === shown) return;
  shown = key;
  replace($('#koppelingen'), party.suggested_links.length
    ? party.suggested_links.map((s, i) => suggestionCard(s, i + 1))
    : el('p', {}, 'Geen voorgestelde koppelingen.'));
  replace($('#samenvoegingen'), active.length
    ? active.map((m, i) => undoCard(m, party, i + 1))
    : el('p', {}, 'Niets samengevoegd in dit dossier.'));
  $('#dossier-id').textContent = party.party_id;
}

export function installMerge() {
  const form = $('#samenvoegformulier');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const other = $('#ander-dossier');
    const reason = $('#samenvoeg-reden');
    const id = other.value.trim().toLowerCase();
    const okId = fieldError(other, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)
      ? '' : 'Vul het dossier-id van het andere dossier in (staat onderaan dat dossier).');
    const okReason = fieldError(reason, reason.value.trim() ? '' : 'Vul de reden van het samenvoegen in.');
    if (!okId || !okReason) {
      (okId ? reason : other).focus();
      return;
    }
    send(`/v1/parties/${partyId}/merges`, { merged_party_id: id, reason: reason.value.trim() }, {
      button: $('#samenvoegen-knop'),
      what: 'Samenvoegen',
      done: 'het andere dossier is opgenomen in dit dossier',
    });
    other.value = '';
    reason.value = '';
  });
}
