// Live updates: Server-Sent Events read with fetch(), so the request carries the same
// Authorization header as every other call. (EventSource cannot send headers; a token
// in the URL would end up in access logs and browser history.) This reader does what
// EventSource does: parses frames, remembers the last id, honours `retry:`, and
// reconnects with Last-Event-ID, so nothing committed in between is missed.

import { authHeaders, expired } from './api.js';

const STATES = {
  connecting: 'verbinden…',
  open: 'verbonden',
  retrying: 'verbinding verbroken, opnieuw verbinden…',
  refused: 'niet beschikbaar',
  closed: 'gestopt',
};

export function stateText(state) {
  return STATES[state] || state;
}

// Returns { stop, opened }: `opened` resolves once the stream is connected (or refused,
// or after 5 s), so a page can load its history after that and miss nothing.
// `headers` and `onUnauthorized` default to the console's session; the resident pages
// (/mijn-zaken/) pass their own.
export function openStream(
  path,
  { onEvent, onState: report = () => {}, headers: headersOf = authHeaders, onUnauthorized = expired },
) {
  let markOpened;
  const opened = new Promise((resolve) => {
    markOpened = resolve;
  });
  setTimeout(() => markOpened(), 5000);
  const onState = (state) => {
    if (state === 'open' || state === 'refused') markOpened();
    report(state);
  };
  let lastId = null;
  let retry = 2000;
  let failures = 0;
  let stopped = false;
  let controller = null;
  let timer = null;

  function schedule() {
    if (stopped) return;
    onState('retrying');
    const backoff = retry * Math.min(2 ** failures, 15);
    failures += 1;
    timer = setTimeout(connect, backoff + Math.random() * 500);
  }

  function dispatch(frame) {
    if (frame.id !== null) lastId = frame.id;
    if (!frame.data.length) return;
    let data;
    try {
      data = JSON.parse(frame.data.join('\n'));
    } catch {
      return; // not ours to show
    }
    onEvent({ id: lastId, type: frame.type || 'message', data });
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let frame = { id: null, type: '', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          dispatch(frame);
          frame = { id: null, type: '', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // comment: "stream open", keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') frame.data.push(text);
        else if (field === 'event') frame.type = text;
        else if (field === 'id' && !text.includes('\0')) frame.id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) retry = Number(text);
      }
    }
  }

  async function connect() {
    if (stopped) return;
    controller = new AbortController();
    onState('connecting');
    const headers = headersOf({ Accept: 'text/event-stream' });
    if (lastId !== null) headers['Last-Event-ID'] = lastId;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', signal: controller.signal });
    } catch {
      schedule();
      return;
    }
    if (response.status === 401) {
      stopped = true;
      onUnauthorized();
      return;
    }
    if (!response.ok) {
      if (response.status >= 500 || response.status === 429) schedule();
      else {
        stopped = true;
        onState('refused');
      }
      return;
    }
    // The server fixed the stream's starting point before it answered: from here on
    // nothing committed can be missed.
    failures = 0;
    onState('open');
    try {
      await read(response.body);
    } catch {
      // aborted or the connection broke: reconnect below unless stopped
    }
    schedule(); // the server ends streams now and then (re-authorisation): resume by id
  }

  connect();
  window.addEventListener('pagehide', () => stop());

  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    onState('closed');
  }

  return { stop, opened };
}
