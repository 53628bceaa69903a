// Search: one identifier, a case number or the start of a name. A POST, so the value
// never appears in a URL, the browser history or a proxy log.

import { api, explain } from './api.js';
import { $, badge, day, el, fieldError, notice, partyLink, replace, time } from './dom.js';
import { SEARCH_KINDS, TRUST, evidenceText } from './labels.js';
import { start } from './layout.js';
import { purpose, setPurpose } from './session.js';

const user = start();
const messages = $('#melding');
const by = $('#zoek-op');
const value = $('#zoekterm');
const why = $('#doel-invoer');

for (const [id, label] of Object.entries(SEARCH_KINDS)) by.append(el('option', { value: id }, label));
by.value = 'name';
why.value = purpose();
(why.value ? value : why).focus();

if (!user.roles.some((r) => ['kcc', 'member', 'lead', 'integration'].includes(r))) {
  notice(messages, 'Met uw rol kunt u geen dossiers zoeken of inzien.', 'warning');
}

// What tells two people with the same name apart: rung, BSN (masked), last contact, open
// cases, postcode + house number.
function resultRow(hit) {
  const name = hit.display_name || 'Naam onbekend';
  const rung = hit.identity_trust;
  return el(
    'tr',
    {},
    el('th', { scope: 'row' }, partyLink(hit.party_id, name),
      hit.matched_party_id !== hit.party_id
        ? el('span', { class: 'muted block' }, 'Gevonden via een samengevoegd dossier')
        : null),
    el('td', {},
      hit.provisional ? badge('voorlopig', 'warning') : badge(TRUST[rung] || 'onbekend', rung === 'authenticated' ? 'ok' : 'neutral'),
      hit.trust ? el('span', { class: 'muted block' }, `Gezocht gegeven – ${TRUST[hit.trust] || hit.trust}: ${evidenceText(hit.evidence)}`) : null),
    el('td', { class: 'value' }, hit.bsn_masked ? bsnCell(hit, name) : '—'),
    el('td', {}, time(hit.last_contact_at, day)),
    el('td', { class: 'number' }, String(hit.open_cases)),
    el('td', {}, hit.postcode ? `${hit.postcode.slice(0, 4)} ${hit.postcode.slice(4)} ${hit.house_number || ''}`.trim() : '—'),
  );
}

// The whole BSN only on request: the reveal is a read of its own, in the access log.
function bsnCell(hit, name) {
  const shown = el('span', {}, hit.bsn_masked);
  const button = el('button', { type: 'button', class: 'button-secondary button-small' });
  let revealed = false;
  const label = () => {
    button.textContent = revealed ? 'verberg' : 'toon';
    button.setAttribute('aria-label', `${revealed ? 'Verberg' : 'Toon'} BSN van ${name}`);
  };
  label();
  button.addEventListener('click', async () => {
    if (revealed) {
      shown.textContent = hit.bsn_masked;
      revealed = false;
      label();
      return;
    }
    try {
      const found = await api(`/v1/parties/${encodeURIComponent(hit.party_id)}/bsn`);
      shown.textContent = found.bsn;
      revealed = true;
      label();
      $('#bsn-melding').textContent = `BSN van ${name} getoond; dit staat in het inzagelogboek.`;
    } catch (error) {
      notice(messages, explain(error), 'error');
    }
  });
  return [shown, ' ', button];
}

$('#zoekformulier').addEventListener('submit', async (event) => {
  event.preventDefault();
  const term = value.value.trim();
  const reason = why.value.trim();
  const okValue = fieldError(value, term ? '' : 'Vul een zoekterm in.');
  const okWhy = fieldError(why, reason ? '' : 'Vul het doel van deze inzage in.');
  if (!okValue || !okWhy) {
    (okValue ? why : value).focus();
    return;
  }
  setPurpose(reason);
  notice(messages, '');
  const results = $('#resultaten');
  const list = $('#resultaten-lijst');
  const count = $('#resultaten-aantal');
  let hits;
  try {
    hits = await api('/v1/parties/search', { method: 'POST', body: { by: by.value, value: term } });
  } catch (error) {
    results.hidden = true;
    notice(messages, explain(error), 'error');
    return;
  }
  results.hidden = false;
  replace(list, hits.items.map(resultRow));
  const n = hits.items.length;
  count.textContent = n === 0
    ? `Niets gevonden op ${SEARCH_KINDS[by.value].toLowerCase()}.`
    : `${n}${hits.truncated ? '+' : ''} ${n === 1 ? 'resultaat' : 'resultaten'} gevonden.`;
  $('#resultaten-tabel').hidden = n === 0;
});
