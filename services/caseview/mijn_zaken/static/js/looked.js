// Wie keek er in mijn dossier: from the access log, which team looked, when and why.

import { api } from './api.js';
import { alert, el, show } from './dom.js';
import { start } from './layout.js';
import { timeEl, whatText } from './words.js';

const READER = { koppeling: 'Een computersysteem van de gemeente', toezicht: 'Een controleur (toezicht)' };

function who(e) {
  if (e.own_read) return 'U zelf';
  if (e.teams.length) return e.teams.join(', ');
  return READER[e.reader] || 'Een medewerker van de gemeente';
}

function row(e) {
  const cell = (child, kop) => el('td', { className: 'utrecht-table__cell', attrs: { 'data-kop': kop } }, [child]);
  const what = whatText(e.what) + (e.case_number ? ` (zaak ${e.case_number})` : '');
  return el('tr', { className: 'utrecht-table__row' }, [
    el('th', { className: 'utrecht-table__header-cell', attrs: { scope: 'row' } }, [timeEl(e.at)]),
    cell(el('span', { text: who(e) }), 'Wie'),
    cell(el('span', { text: e.purpose || 'Geen reden opgegeven' }), 'Waarom'),
    cell(el('span', { text: what }), 'Wat'),
  ]);
}

let cursor = null;
let rows = [];

async function more() {
  let page;
  try {
    page = await api(`/v1/me/access-log?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  } catch (error) {
    show('inzage', alert('error', error.message, { urgent: true }));
    return;
  }
  rows = [...rows, ...page.items.map(row)];
  cursor = page.next_cursor;
  const head = ['Wanneer', 'Wie', 'Waarom', 'Wat'];
  const table = el('table', { className: 'utrecht-table' }, [
    el('caption', { className: 'utrecht-table__caption', text: 'Wie keek er in uw gegevens, het laatst bovenaan' }),
    el('thead', { className: 'utrecht-table__header' }, [
      el('tr', { className: 'utrecht-table__row' }, head.map((h) => el('th', { className: 'utrecht-table__header-cell', text: h, attrs: { scope: 'col' } }))),
    ]),
    el('tbody', { className: 'utrecht-table__body' }, rows),
  ]);
  const parts = [el('div', { className: 'mz-tabel' }, [table])];
  if (cursor) {
    const button = el('button', { className: 'utrecht-button utrecht-button--secondary-action', text: 'Meer laden', attrs: { type: 'button' } });
    button.addEventListener('click', more);
    parts.push(button);
  }
  show('inzage', ...parts);
}

start(more);
