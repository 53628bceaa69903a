// One history entry as a list item: what happened, when (and, for imported history, when it
// was recorded), on which channel, in which case, with its attachments.

import { attachmentList } from './attachments.js';
import { badge, caseLink, el, time } from './dom.js';
import { IDENTIFIERS, TRUST, channel, evidenceText, status, team } from './labels.js';

const P = 'nl.eenloket.';

function by(actor) {
  if (!actor) return null;
  return el('p', { class: 'entry-by' }, `Door ${actor.user}${actor.team ? ` (${team(actor.team)})` : ''}`);
}

function reason(text) {
  return text ? el('p', { class: 'entry-reason' }, el('span', { class: 'label' }, 'Reden: '), text) : null;
}

// [title, body nodes] per event type; unknown types show their type name.
function describe(entry) {
  const d = entry.data || {};
  switch (entry.type) {
    case `${P}party.created`:
      return [d.provisional ? 'Nieuwe afzender geregistreerd (voorlopig)' : 'Partij geregistreerd', []];
    case `${P}party.identifier-added`:
      return [
        `Gegeven toegevoegd: ${IDENTIFIERS[d.identifier?.kind] || d.identifier?.kind || ''}`,
        [el('p', {}, `${d.identifier?.value ?? ''} (${TRUST[d.identifier?.trust] || d.identifier?.trust || ''}: ${evidenceText(d.identifier?.evidence)})`)],
      ];
    case `${P}party.identifier-revoked`:
      return [
        `Gegeven niet langer ${(TRUST[d.identifier?.trust] || '').toLowerCase()}: ${IDENTIFIERS[d.identifier?.kind] || d.identifier?.kind || ''}`,
        [el('p', {}, d.identifier?.value ?? ''), reason(d.reason)],
      ];
    case `${P}party.link-suggested`:
      return ['Mogelijke koppeling met een andere partij voorgesteld', []];
    case `${P}party.link-decided`:
      return [d.confirmed ? 'Koppeling bevestigd' : 'Koppeling afgewezen', [reason(d.reason), by(d.by)]];
    case `${P}party.duplicate-flagged`:
      return ['Mogelijk dubbele registratie gesignaleerd', []];
    case `${P}party.merged`:
      return ['Partijen samengevoegd', [reason(d.reason), by(d.by)]];
    case `${P}party.unmerged`:
      return ['Samenvoeging ongedaan gemaakt', [reason(d.reason), by(d.by)]];
    case `${P}case.opened`:
      return [
        `Zaak geopend${d.product ? `: ${d.product}` : ''}`,
        [el('p', {}, `Eigenaar: ${team(d.owner_team)}`)],
      ];
    case `${P}case.merged`:
      return [`Zaak samengevoegd met ${d.into_case_number || ''}`, [reason(d.reason), by(d.by)]];
    case `${P}case.unfolded`:
      return ['Zaak weer losgemaakt: de samenvoeging is ongedaan gemaakt', [reason(d.reason), by(d.by)]];
    case `${P}case.classified`:
      return [
        `Zaak ingedeeld${d.product ? `: ${d.product}` : ''}`,
        [d.confidential ? el('p', {}, 'Vertrouwelijk: alleen eigenaar en deelnemers zien de inhoud') : null],
      ];
    case `${P}message.routed`:
      return [
        `Bericht via ${channel(entry.channel || d.channel)}${d.subject ? `: ${d.subject}` : ''}`,
        [
          d.text ? el('p', { class: 'entry-text' }, d.text) : null,
          d.display_name ? el('p', { class: 'entry-by' }, `Van ${d.display_name}`) : null,
        ],
      ];
    case `${P}case.handed-over`:
      return [
        `Overgedragen van ${team(d.from_team)} aan ${team(d.to_team)}`,
        [reason(d.reason), by(d.by)],
      ];
    case `${P}case.participant-added`:
      return [`${team(d.team)} neemt deel aan de zaak`, [reason(d.reason), by(d.by)]];
    case `${P}case.participant-removed`:
      return [`${team(d.team)} neemt niet meer deel`, [reason(d.reason), by(d.by)]];
    case `${P}case.status-changed`:
      return [`Status: ${status(d.from_status)} → ${status(d.to_status)}`, [by(d.by)]];
    case `${P}case.closed`:
      return ['Zaak afgehandeld', [el('p', {}, `Resultaat: ${d.result ?? ''}`), by(d.by)]];
    case `${P}case.note-added`:
      return ['Notitie', [el('p', { class: 'entry-text' }, d.text ?? ''), by(d.by)]];
    case `${P}contact.outbound-registered`:
      return [
        `Contact door de gemeente via ${channel(d.channel)}`,
        [el('p', { class: 'entry-text' }, d.summary ?? ''), by(d.by)],
      ];
    case `${P}command.rejected`:
      return ['Opdracht geweigerd', [reason(d.reason), by(d.by)]];
    default:
      return [entry.type, []];
  }
}

export function title(entry) {
  return entry.redacted ? 'Afgeschermd contact' : describe(entry)[0];
}

export function entryItem(entry, { showCase = true, fresh = false, numbers = new Map() } = {}) {
  const d = entry.data || {};
  const [heading, body] = entry.redacted
    ? [
      'Afgeschermd: vertrouwelijke zaak',
      [el('p', {}, `Alleen zichtbaar voor ${team(d.owner_team)} en deelnemende teams.`)],
    ]
    : describe(entry);
  const meta = el(
    'p',
    { class: 'entry-meta' },
    time(entry.occurred_at),
    entry.imported
      ? [' · ', badge('geïmporteerd', 'imported'), ' ', el('span', { class: 'entry-recorded' }, 'vastgelegd ', time(entry.recorded_at))]
      : null,
    entry.channel ? [' · ', badge(channel(entry.channel), 'channel')] : null,
    showCase && entry.case_id
      ? [' · ', caseLink(entry.case_id, d.case_number || numbers.get(entry.case_id) || 'zaak')]
      : null,
    fresh ? [' ', badge('nieuw', 'new')] : null,
  );
  return el(
    'li',
    {
      class: `entry${entry.redacted ? ' entry-redacted' : ''}${fresh ? ' entry-fresh' : ''}`,
      dataset: { eventId: entry.event_id, type: entry.type.replace(P, '') },
    },
    el('article', {}, el('h3', { tabindex: '-1' }, heading), meta, body, attachmentList(entry)),
  );
}
