// Replying to the resident from the case page: recipient (one of the party's addresses,
// with its trust rung), channel (by default the one the resident last wrote on), template
// or own words, a preview by caseview (the same checks as sending), then send. A reply
// to an address the resident only stated needs an explicit confirmation. Its status
// (requested, sent, delivered …) comes in on the case's live history.

import { api, explain } from './api.js';
import { $, badge, el, fieldError, notice, replace } from './dom.js';
import { IDENTIFIERS, TRUST, channel as channelName, evidenceText, team } from './labels.js';
import { sendCommand } from './actions.js';

const P = 'nl.eenloket.';
// Which identifier kind each reply channel sends to, and the reply channel of each inbound
// channel (as caseview chooses: services/caseview/replies/choice.py).
const KIND = { email: 'email', sms: 'phone', letter: 'postal_address', chat: 'chat', app: 'bsn' };
const REPLY_CHANNEL = { email: 'email', web: 'email', phone: 'sms', app: 'app', chat: 'chat', letter: 'letter' };
const CHANNEL_LABEL = { email: 'E-mail', sms: 'Sms', letter: 'Brief', chat: 'Chat', app: 'App' };
const STATUS = {
  requested: 'aangevraagd',
  sent: 'verstuurd',
  delivered: 'afgeleverd',
  bounced: 'niet aangekomen (onbestelbaar)',
  failed: 'mislukt',
  'handed-to-print': 'naar de drukker',
};
const BECAUSE = {
  requested: 'door u gekozen',
  'last-message': 'het kanaal van het laatste bericht van de inwoner',
  'preferred-channel': 'het voorkeurskanaal van de inwoner',
};

let caseId = null;
let theCase = null;
let identifiers = [];
let templates = [];
let lastChannel = null;
let previewed = null; // the body the shown preview was made from
let idempotencyKey = null;

const rung = (trust) => TRUST[trust] || trust;

export function replyStatus(status) {
  return STATUS[status] || status;
}

// History entries of replies, in Dutch (the shared timeline shows other types).
export function replyEntry(entry) {
  const d = entry.data || {};
  if (entry.type === `${P}reply.requested`) {
    return [
      `Antwoord aan de inwoner via ${CHANNEL_LABEL[d.channel] || d.channel}${d.subject ? `: ${d.subject}` : ''}`,
      [
        el('p', { class: 'entry-text' }, d.text ?? ''),
        el('p', {}, 'Status: ', el('span', { class: 'reply-status', dataset: { reply: d.reply_id } },
          badge(replyStatus('requested'))), ` · adres ${rung(d.recipient_trust).toLowerCase()}`),
        d.by ? el('p', { class: 'entry-by' }, `Door ${d.by.user}${d.by.team ? ` (${team(d.by.team)})` : ''}`) : null,
      ],
    ];
  }
  if (entry.type === `${P}reply.status-changed`) {
    return [
      `Antwoord ${replyStatus(d.status)} (${CHANNEL_LABEL[d.channel] || d.channel})`,
      d.reason ? [el('p', { class: 'entry-reason' }, el('span', { class: 'label' }, 'Reden: '), d.reason)] : [],
    ];
  }
  return null;
}

// A newer status of a reply on the page: its request entry shows it too.
export function replyStatusChanged(entry) {
  const d = entry.data || {};
  if (entry.type !== `${P}reply.status-changed`) return;
  for (const node of document.querySelectorAll('.reply-status')) {
    if (node.dataset.reply === d.reply_id) replace(node, badge(replyStatus(d.status), d.status === 'delivered' || d.status === 'sent' ? 'ok' : 'neutral'));
  }
}

function selected() {
  return identifiers.find((i) => i.identifier_id === $('#ontvanger').value) || null;
}

function body() {
  const recipient = selected();
  return {
    identifier_id: recipient ? recipient.identifier_id : null,
    channel: $('#antwoord-kanaal').value || null,
    template: $('#sjabloon').value || null,
    text: $('#antwoord-tekst').value.trim() || null,
    confirm_claimed: Boolean(recipient && recipient.trust === 'claimed' && $('#bevestig-opgegeven').checked),
  };
}

function fillTemplates() {
  const select = $('#sjabloon');
  const chosen = select.value;
  const channel = $('#antwoord-kanaal').value;
  const product = (theCase?.product || '').toLowerCase();
  const names = [...new Set(templates
    .filter((t) => t.channel === channel && (t.product === '*' || t.product.toLowerCase() === product))
    .filter((t) => t.name !== 'kennisgeving')
    .map((t) => t.name))].sort();
  replace(select, el('option', { value: '' }, 'Geen sjabloon: alleen mijn eigen tekst'),
    names.map((name) => el('option', { value: name }, name.replace(/-/g, ' '))));
  if (names.includes(chosen)) select.value = chosen;
}

function fillRecipients() {
  const channel = $('#antwoord-kanaal').value;
  const select = $('#ontvanger');
  const fitting = identifiers.filter((i) => i.kind === KIND[channel]);
  replace(select, fitting.length ? null : el('option', { value: '' }, 'Geen adres voor dit kanaal'),
    fitting.map((i) => el('option', { value: i.identifier_id },
      `${IDENTIFIERS[i.kind] || i.kind}: ${i.value} — ${rung(i.trust)} (${evidenceText(i.evidence)})`)));
  showClaimed();
}

function showClaimed() {
  const recipient = selected();
  const claimed = recipient?.trust === 'claimed';
  $('#opgegeven-veld').hidden = !claimed;
  if (!claimed) $('#bevestig-opgegeven').checked = false;
  $('#opgegeven-uitleg').textContent = claimed
    ? `Let op: ${recipient.value} heeft de inwoner alleen zelf opgegeven. De gemeente heeft niet gecontroleerd dat het adres van deze inwoner is. Een bericht aan een verkeerd adres kan persoonlijke gegevens aan een ander laten zien. Verstuur alleen als u zeker weet dat het klopt.`
    : '';
}

function stale() {
  previewed = null;
  idempotencyKey = null;
  $('#voorbeeld').hidden = true;
}

export async function renderComposer(c, user) {
  caseId = c.id;
  theCase = c;
  const section = $('#antwoorden');
  const acts = user.roles.some((r) => ['kcc', 'member', 'lead'].includes(r));
  const involved = user.teams.includes(c.owner_team) || c.participants.some((t) => user.teams.includes(t)) || user.roles.includes('kcc');
  section.hidden = false;
  const may = acts && involved && !c.redacted && !c.closed_at;
  $('#antwoordformulier').hidden = !may;
  $('#antwoorden-uitleg').textContent = may
    ? 'Kies het adres, het kanaal en een sjabloon of uw eigen tekst. Bekijk eerst het voorbeeld; daarna kunt u versturen.'
    : 'Alleen het eigenaar-team, deelnemende teams en het klantcontactcentrum antwoorden, en alleen zolang de zaak open is.';
  if (!may) {
    $('#voorbeeld').hidden = true;
    return;
  }
  if (identifiers.length && templates.length) return; // filled already: keep what they typed
  const [party, list, history] = await Promise.all([
    api(`/v1/parties/${c.party_id}`),
    api('/v1/reply-templates'),
    api(`/v1/cases/${c.id}/timeline?limit=100`),
  ]);
  identifiers = party.identifiers.filter((i) => Object.values(KIND).includes(i.kind));
  templates = list;
  const last = history.items.find((e) => e.type === `${P}message.routed` && REPLY_CHANNEL[e.channel]);
  lastChannel = last ? REPLY_CHANNEL[last.channel] : null;
  const usable = Object.keys(KIND).filter((ch) => identifiers.some((i) => i.kind === KIND[ch]));
  replace($('#antwoord-kanaal'), usable.map((ch) => el('option', { value: ch }, CHANNEL_LABEL[ch])));
  $('#antwoord-kanaal').value = usable.includes(lastChannel) ? lastChannel : usable[0] || '';
  $('#antwoord-kanaal-hint').textContent = lastChannel
    ? `Standaard: ${CHANNEL_LABEL[lastChannel]}, het kanaal waarop de inwoner het laatst schreef (${channelName(last.channel)}).`
    : 'De inwoner heeft op deze zaak nog niet geschreven: kies een kanaal.';
  fillRecipients();
  fillTemplates();
}

async function showPreview(event) {
  event.preventDefault();
  const sent = body();
  for (const id of ['ontvanger', 'antwoord-kanaal', 'sjabloon', 'antwoord-tekst', 'bevestig-opgegeven']) fieldError($(`#${id}`), '');
  if (!sent.identifier_id) {
    fieldError($('#ontvanger'), 'Kies het adres waar het antwoord heen gaat.');
    $('#ontvanger').focus();
    return;
  }
  try {
    const p = await api(`/v1/cases/${caseId}/replies/preview`, { method: 'POST', body: sent });
    previewed = sent;
    const recipient = identifiers.find((i) => i.identifier_id === p.identifier_id);
    replace($('#voorbeeld-gegevens'),
      el('dt', {}, 'Aan'), el('dd', {}, recipient ? `${recipient.value} (${rung(recipient.trust)})` : '—'),
      el('dt', {}, 'Kanaal'), el('dd', {}, `${CHANNEL_LABEL[p.channel] || p.channel} — ${BECAUSE[p.chosen_because] || ''}`),
      p.subject ? [el('dt', {}, 'Onderwerp'), el('dd', {}, p.subject)] : null,
      p.notice_only ? [el('dt', {}, 'Let op'), el('dd', {}, 'Vertrouwelijke zaak en een adres dat niet is gecontroleerd: alleen een kennisgeving zonder inhoud wordt verstuurd.')] : null);
    $('#voorbeeld-tekst').textContent = p.text;
    $('#voorbeeld').hidden = false;
    $('#voorbeeld').focus();
  } catch (error) {
    refusedAt(error);
  }
}

// A refusal of the reply at the field it is about (caseview's detail names the field).
function refusedAt(error) {
  const detail = error.detail || '';
  const field = /confirm_claimed/.test(detail) ? '#bevestig-opgegeven'
    : /'template'/.test(detail) ? '#sjabloon'
      : /'text'/.test(detail) ? '#antwoord-tekst'
        : /'channel'/.test(detail) ? '#antwoord-kanaal'
          : /'identifier_id'/.test(detail) ? '#ontvanger' : '#antwoord-tekst';
  const claimed = field === '#bevestig-opgegeven';
  const text = claimed
    ? 'Dit adres is alleen opgegeven door de inwoner. Vink aan dat u zeker weet dat het klopt, of kies een ander adres.'
    : explain(error);
  fieldError($(field), text);
  $(field).focus();
}

async function send() {
  if (!previewed) return;
  const button = $('#versturen-knop');
  button.disabled = true;
  idempotencyKey = idempotencyKey || crypto.randomUUID();
  try {
    const accepted = await sendCommand({
      path: `/v1/cases/${caseId}/replies`,
      body: previewed,
      headers: { 'Idempotency-Key': idempotencyKey },
      control: button,
      box: $('#antwoord-status'),
      what: 'Het antwoord',
      done: 'Het antwoord is aangevraagd; de status staat in de geschiedenis.',
    });
    if (accepted) {
      idempotencyKey = null;
      $('#antwoord-tekst').value = '';
      $('#bevestig-opgegeven').checked = false;
      previewed = null;
      $('#voorbeeld').hidden = true;
      notice($('#antwoord-status'), `Antwoord verzonden (${CHANNEL_LABEL[accepted.channel] || accepted.channel}); wacht op bevestiging…`, 'info');
      $('#antwoord-status').setAttribute('tabindex', '-1');
      $('#antwoord-status').focus();
    }
  } finally {
    button.disabled = false;
  }
}

export function wireComposer() {
  $('#antwoordformulier').addEventListener('submit', showPreview);
  $('#antwoord-kanaal').addEventListener('change', () => {
    fillRecipients();
    fillTemplates();
    stale();
  });
  $('#ontvanger').addEventListener('change', () => {
    showClaimed();
    stale();
  });
  for (const id of ['#sjabloon', '#antwoord-tekst', '#bevestig-opgegeven']) {
    $(id).addEventListener('input', stale);
    $(id).addEventListener('change', stale);
  }
  $('#versturen-knop').addEventListener('click', send);
}
