// Building the page without HTML strings: every value goes in as text (textContent),
// so nothing the API returns can ever become markup or script.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function $(selector) {
  const node = document.querySelector(selector);
  if (!node) throw new Error(`missing element ${selector}`);
  return node;
}

const ZONE = 'Europe/Amsterdam';
const dateTime = new Intl.DateTimeFormat('nl-NL', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  timeZone: ZONE,
});
const dateOnly = new Intl.DateTimeFormat('nl-NL', {
  day: 'numeric', month: 'short', year: 'numeric', timeZone: ZONE,
});
const timeOnly = new Intl.DateTimeFormat('nl-NL', {
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: ZONE,
});

export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

export function day(iso) {
  return iso ? dateOnly.format(new Date(iso)) : '—';
}

export function clock(date = new Date()) {
  return timeOnly.format(date);
}

// <time datetime="..."> with a Dutch text: machine-readable and readable.
export function time(iso, format = when) {
  return iso ? el('time', { datetime: iso }, format(iso)) : '—';
}

export function param(name) {
  return new URLSearchParams(window.location.search).get(name);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidParam(name) {
  const value = param(name);
  return value && UUID.test(value) ? value.toLowerCase() : null;
}

export function caseLink(caseId, number) {
  return el('a', { href: `zaak.html?id=${encodeURIComponent(caseId)}` }, number || 'zaak');
}

export function partyLink(partyId, text) {
  return el('a', { href: `partij.html?id=${encodeURIComponent(partyId)}` }, text);
}

// A message for the user in the page (role=alert for errors, role=status otherwise).
export function notice(target, text, kind = 'info') {
  const role = kind === 'error' ? 'alert' : 'status';
  replace(target, text ? el('p', { class: `notice notice-${kind}`, role }, text) : null);
  target.hidden = !text;
}

export function badge(text, kind = 'neutral') {
  return el('span', { class: `badge badge-${kind}` }, text);
}

// Field-level validation: message under the field, aria-invalid, first invalid focused.
export function fieldError(input, message) {
  const box = document.getElementById(`${input.id}-fout`) || document.getElementById(input.dataset.error);
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
  if (box) {
    box.textContent = message || '';
    box.hidden = !message;
  }
  return !message;
}
