// Search: one identifier, a case number or the start of a name. A POST, so the value
// never appears in a URL, the browser history or a proxy log.

import { api, explain } from './api.js';
import { $, el, fieldError, notice, partyLink, replace } from './dom.js';
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
  replace(list, hits.items.map((hit) => el(
    'tr',
    {},
    el('td', {}, partyLink(hit.party_id, hit.display_name || 'Naam onbekend')),
    el('td', {}, hit.provisional ? 'Voorlopig (alleen opgegeven gegevens)' : 'Bekend',
      hit.trust ? ` · ${TRUST[hit.trust] || hit.trust}: ${evidenceText(hit.evidence)}` : ''),
    el('td', {}, hit.matched_party_id !== hit.party_id
      ? 'Gevonden via een samengevoegd dossier'
      : '—'),
  )));
  const n = hits.items.length;
  count.textContent = n === 0
    ? `Niets gevonden op ${SEARCH_KINDS[by.value].toLowerCase()}.`
    : `${n}${hits.truncated ? '+' : ''} ${n === 1 ? 'resultaat' : 'resultaten'} gevonden.`;
  $('#resultaten-tabel').hidden = n === 0;
});
