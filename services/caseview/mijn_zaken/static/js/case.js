// Zaak: one of the resident's cases: status, due date, their messages and the municipality's
// replies, the documents they sent. Live: the case's stream only says *that* it changed
// (/v1/me/cases/{id}/events); the page then fetches the case again.

import { openStream } from '/console/js/stream.js';
import { api, authHeaders } from './api.js';
import { alert, dataList, el, show } from './dom.js';
import { start } from './layout.js';
import { toLogin } from './session.js';
import { channelText, deliveryText, sizeText, statusText, timeEl } from './words.js';

const id = new URLSearchParams(window.location.search).get('id') || '';
const path = `/v1/me/cases/${encodeURIComponent(id)}`;
const LIVE = {
  connecting: 'Verbinden…',
  open: 'Wijzigingen ziet u hier meteen.',
  retrying: 'Even geen verbinding. Wij proberen het opnieuw.',
  refused: 'Wijzigingen ziet u na het opnieuw laden van de pagina.',
  closed: '',
};

async function download(doc) {
  // With the token in a header, never in a link: the bytes come to the page, then to the user.
  try {
    const response = await api(`${path}/attachments/${doc.sha256}`, { json: false });
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { attrs: { href: url, download: doc.filename || 'document' } });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    show('live-melding', el('span', { text: error.message }));
  }
}

function documents(list) {
  if (!list.length) return [];
  const items = list.map((doc) => {
    const button = el('button', {
      className: 'utrecht-button utrecht-button--secondary-action',
      text: `Download ${doc.filename || 'document'} (${sizeText(doc.size)})`,
      attrs: { type: 'button' },
    });
    button.addEventListener('click', () => download(doc));
    return el('li', {}, [button]);
  });
  return [el('p', { className: 'utrecht-paragraph', text: 'Documenten die u meestuurde:' }), el('ul', { className: 'mz-lijst' }, items)];
}

function message(m) {
  return {
    at: m.at,
    node: el('article', { className: 'mz-bericht mz-bericht--van-u' }, [
      el('h3', { className: 'utrecht-heading-3', text: `U schreef via ${channelText(m.channel)}` }),
      el('p', { className: 'mz-klein' }, [timeEl(m.at)]),
      ...(m.subject ? [el('p', { className: 'utrecht-paragraph mz-onderwerp', text: m.subject })] : []),
      el('p', { className: 'utrecht-paragraph mz-tekst', text: m.text }),
      ...documents(m.documents),
    ]),
  };
}

function reply(r) {
  const body = r.notice_only
    ? [
        el('p', { className: 'utrecht-paragraph mz-onderwerp', text: 'Er staat een bericht voor u klaar' }),
        el('p', {
          className: 'utrecht-paragraph',
          text: 'Het bericht bevat persoonlijke gegevens. Daarom staat het op een beveiligde plek van de gemeente. Daar leest u het na inloggen met DigiD.',
        }),
      ]
    : [
        ...(r.subject ? [el('p', { className: 'utrecht-paragraph mz-onderwerp', text: r.subject })] : []),
        el('p', { className: 'utrecht-paragraph mz-tekst', text: r.text }),
      ];
  return {
    at: r.at,
    node: el('article', { className: 'mz-bericht mz-bericht--gemeente' }, [
      el('h3', { className: 'utrecht-heading-3', text: `De gemeente schreef via ${channelText(r.channel)}` }),
      el('p', { className: 'mz-klein' }, [timeEl(r.at)]),
      ...body,
      el('p', { className: 'mz-klein mz-bezorging' }, [el('span', { text: `${deliveryText(r.status)} – ` }), timeEl(r.status_at)]),
    ]),
  };
}

function render(c) {
  document.title = `${c.product || `Zaak ${c.number}`} – Mijn zaken`;
  show('titel', document.createTextNode(c.product || `Zaak ${c.number}`));
  if (c.locked) {
    show('zaak', alert('warning', `${c.notice}. Log uit en log opnieuw in met DigiD en de DigiD app of sms-controle. Dan ziet u deze zaak.`));
    show('berichten');
    return;
  }
  show(
    'zaak',
    dataList([
      ['Zaaknummer', document.createTextNode(c.number)],
      ['Status', el('span', { text: statusText(c.status), attrs: { id: 'status' } })],
      ['Klaar uiterlijk', timeEl(c.due_at, false)],
      ['Wie helpt u', document.createTextNode(c.team || '–')],
      ['Laatste wijziging', timeEl(c.last_change_at)],
    ]),
  );
  const items = [...c.messages.map(message), ...c.replies.map(reply)].sort((a, b) => (a.at < b.at ? 1 : -1));
  show(
    'berichten',
    ...(items.length
      ? items.map((i) => i.node)
      : [el('p', { className: 'utrecht-paragraph', text: 'Er zijn nog geen berichten.' })]),
  );
}

let shown = null;

async function load() {
  let c;
  try {
    c = await api(path);
  } catch (error) {
    show('zaak', alert('error', error.message, { urgent: true }));
    return null;
  }
  render(c);
  return c;
}

async function refresh() {
  const before = shown;
  const now = await load();
  if (!now || !before) return;
  const changes = [];
  if (now.status !== before.status) changes.push(`De status is nu: ${statusText(now.status)}.`);
  if (now.replies.length > before.replies.length) changes.push('Er is een nieuw bericht van de gemeente.');
  show('live-melding', el('span', { text: changes.join(' ') || 'Uw zaak is bijgewerkt.' }));
  shown = now;
}

let pending = null;

start(async () => {
  const live = openStream(`${path}/events`, {
    headers: authHeaders,
    onUnauthorized: () => toLogin('verlopen'),
    onState: (state) => show('live-status', document.createTextNode(LIVE[state] ?? '')),
    // Several changes at once become one refetch.
    onEvent: () => {
      clearTimeout(pending);
      pending = setTimeout(refresh, 200);
    },
  });
  await live.opened; // from here on no change is missed
  shown = await load();
});
