// Mijn zaken: the resident's cases, most recently changed first.

import { api } from './api.js';
import { alert, el, show } from './dom.js';
import { start } from './layout.js';
import { statusText, timeEl } from './words.js';

function row(c) {
  const link = el('a', { className: 'utrecht-link', text: c.locked ? `Zaak ${c.number}` : c.product || `Zaak ${c.number}`, attrs: { href: `zaak.html?id=${c.id}` } });
  const cell = (child, kop) => el('td', { className: 'utrecht-table__cell', attrs: { 'data-kop': kop } }, [child]);
  const first = el('th', { className: 'utrecht-table__header-cell', attrs: { scope: 'row' } }, [link, el('br'), el('span', { className: 'mz-klein', text: `Zaaknummer ${c.number}` })]);
  if (c.locked) {
    const notice = el('td', { className: 'utrecht-table__cell', attrs: { colspan: '3', 'data-kop': 'Status' } }, [
      el('span', { text: `${c.notice}. ` }),
      el('span', { text: 'Log uit en log opnieuw in met DigiD en de DigiD app of sms-controle.' }),
    ]);
    return el('tr', { className: 'utrecht-table__row' }, [first, notice, cell(timeEl(c.last_change_at), 'Laatste wijziging')]);
  }
  return el('tr', { className: 'utrecht-table__row' }, [
    first,
    cell(el('span', { text: statusText(c.status) }), 'Status'),
    cell(timeEl(c.due_at, false), 'Klaar uiterlijk'),
    cell(el('span', { text: c.team || '–' }), 'Wie helpt u'),
    cell(timeEl(c.last_change_at), 'Laatste wijziging'),
  ]);
}

async function load() {
  let body;
  try {
    body = await api('/v1/me/cases');
  } catch (error) {
    show('zaken', alert('error', error.message, { urgent: true }));
    return;
  }
  if (!body.items.length) {
    show('zaken', el('p', { className: 'utrecht-paragraph', text: 'U heeft nog geen zaken bij de gemeente.' }));
    return;
  }
  const head = ['Zaak', 'Status', 'Klaar uiterlijk', 'Wie helpt u', 'Laatste wijziging'];
  const table = el('table', { className: 'utrecht-table' }, [
    el('caption', { className: 'utrecht-table__caption', text: 'Uw zaken, de laatst gewijzigde bovenaan' }),
    el('thead', { className: 'utrecht-table__header' }, [
      el('tr', { className: 'utrecht-table__row' }, head.map((h) => el('th', { className: 'utrecht-table__header-cell', text: h, attrs: { scope: 'col' } }))),
    ]),
    el('tbody', { className: 'utrecht-table__body' }, body.items.map(row)),
  ]);
  show('zaken', el('div', { className: 'mz-tabel' }, [table]));
}

start(load);
