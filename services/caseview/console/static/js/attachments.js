// A contact's attachments (letter scans, app photos) on its history entry. The bytes come
// from caseview's case route with the user's token (need-to-know, access log), never from
// the store; PDF and images are previewed in the page, anything else is downloaded.

import { ApiError, authHeaders, explain, expired } from './api.js';
import { el, replace } from './dom.js';

const PREVIEW = new Set(['application/pdf', 'image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1).replace('.', ',')} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

function kind(type) {
  if (type === 'application/pdf') return 'PDF';
  if (type.startsWith('image/')) return 'afbeelding';
  return 'bestand';
}

async function fetchBlob(path) {
  let response;
  try {
    response = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'Geen verbinding');
  }
  if (response.status === 401) {
    expired();
    throw new ApiError(401, 'Niet aangemeld');
  }
  if (!response.ok) throw new ApiError(response.status, '');
  return response.blob();
}

async function open(caseId, ref, target) {
  const name = ref.filename || 'bijlage';
  replace(target, el('p', { role: 'status' }, `Bijlage ${name} wordt geladen…`));
  try {
    const blob = await fetchBlob(`/v1/cases/${encodeURIComponent(caseId)}/attachments/${ref.sha256}`);
    const url = URL.createObjectURL(blob);
    const download = el('a', { href: url, download: name, class: 'attachment-download' }, `${name} downloaden`);
    if (!PREVIEW.has(ref.media_type)) {
      replace(target, el('p', { role: 'status' }, 'Dit bestand kan de console niet tonen: het wordt gedownload. ', download));
      download.click();
      return;
    }
    const view = ref.media_type === 'application/pdf'
      ? el('iframe', { src: url, title: `Voorbeeld van ${name}`, class: 'attachment-preview' })
      : el('img', { src: url, alt: `Bijlage ${name}`, class: 'attachment-preview' });
    replace(target, el('figure', { class: 'attachment-figure' }, view, el('figcaption', {}, name, ' · ', download)));
  } catch (error) {
    replace(target, el('p', { class: 'notice notice-error', role: 'alert' }, `Bijlage ${name} openen lukte niet. ${explain(error)}`));
  }
}

export function attachmentList(entry) {
  const refs = entry.redacted ? [] : entry.data?.attachments || [];
  if (!refs.length || !entry.case_id) return null;
  return el(
    'div',
    { class: 'attachments' },
    el('p', { class: 'label' }, refs.length === 1 ? 'Bijlage' : `${refs.length} bijlagen`),
    el('ul', {}, refs.map((ref) => {
      const shown = el('div', { class: 'attachment-view' });
      const name = ref.filename || 'bijlage';
      return el(
        'li',
        {},
        el('button', {
          type: 'button',
          class: 'button-secondary attachment-open',
          onclick: () => open(entry.case_id, ref, shown),
        }, `${name} openen`),
        ' ',
        el('span', { class: 'muted' }, `(${kind(ref.media_type)}, ${size(ref.size)})`),
        shown,
      );
    })),
  );
}
