// What became of a staff action this user sent: GET /v1/commands/{id} (the Location of
// the 202) until the router applied or rejected it, within a deadline. The live stream
// usually tells first; this also covers a refusal that no history shows and a stream
// that is away. Only the sender and their team may read a command's status.

import { api } from './api.js';

const FIRST_MS = 700;
const MAX_DELAY_MS = 5000;
const DEADLINE_MS = 120000;

// Calls onApplied(status) or onRejected(status) once, or onUnknown() after the deadline.
// Returns { stop, now }: `now` checks at once (e.g. when the stream showed something).
export function watchCommand(commandId, { onApplied, onRejected, onUnknown = () => {} }) {
  const started = Date.now();
  let delay = FIRST_MS;
  let stopped = false;
  let timer = null;
  let busy = false;

  async function check() {
    if (stopped || busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      const status = await api(`/v1/commands/${encodeURIComponent(commandId)}`);
      if (stopped) return;
      if (status.status === 'applied') {
        stopped = true;
        onApplied(status);
        return;
      }
      if (status.status === 'rejected') {
        stopped = true;
        onRejected(status);
        return;
      }
    } catch {
      // Not readable yet (or the connection dropped): ask again until the deadline.
    } finally {
      busy = false;
    }
    if (stopped) return;
    if (Date.now() - started > DEADLINE_MS) {
      stopped = true;
      onUnknown();
      return;
    }
    delay = Math.min(delay * 1.6, MAX_DELAY_MS);
    timer = setTimeout(check, delay);
  }

  timer = setTimeout(check, delay);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    now() {
      check();
    },
  };
}
