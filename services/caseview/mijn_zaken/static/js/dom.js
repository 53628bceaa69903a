// Building the page from data: every value is set as text, never as HTML.

export function el(tag, { className = '', text = null, attrs = {} } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// An NL Design System alert (role status or alert) with one message.
export function alert(kind, message, { urgent = false } = {}) {
  const box = el('div', { className: `utrecht-alert utrecht-alert--${kind}`, attrs: { role: urgent ? 'alert' : 'status' } });
  box.append(el('div', { className: 'utrecht-alert__content' }, [el('p', { className: 'utrecht-alert__message utrecht-paragraph', text: message })]));
  return box;
}

export function show(id, ...nodes) {
  document.getElementById(id).replaceChildren(...nodes);
}

export function dataList(rows) {
  return el(
    'dl',
    { className: 'utrecht-data-list' },
    rows.map(([key, value]) =>
      el('div', { className: 'utrecht-data-list__item' }, [
        el('dt', { className: 'utrecht-data-list__item-key', text: key }),
        el('dd', { className: 'utrecht-data-list__item-value' }, [value]),
      ]),
    ),
  );
}
