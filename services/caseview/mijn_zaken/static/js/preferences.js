// Mijn voorkeuren: how the municipality answers (preferred channel) and which channels not.
// Saved through the API; a refusal is shown at the control it is about.

import { api } from './api.js';
import { alert, el, show } from './dom.js';
import { start } from './layout.js';
import { CHANNELS, channelText } from './words.js';

const form = document.getElementById('voorkeuren');
const preferred = document.getElementById('voorkeurskanaal');
const error = document.getElementById('voorkeur-fout');

function fill(p) {
  preferred.replaceChildren(
    el('option', { text: 'Geen voorkeur', attrs: { value: '' } }),
    ...CHANNELS.map((c) => el('option', { text: channelText(c), attrs: { value: c } })),
  );
  preferred.value = p.preferred_channel || '';
  const boxes = CHANNELS.map((c) => {
    const input = el('input', { className: 'utrecht-checkbox utrecht-checkbox--html-input', attrs: { type: 'checkbox', id: `uit-${c}`, name: 'uit', value: c } });
    input.checked = p.opted_out.includes(c);
    return el('div', { className: 'utrecht-form-field utrecht-form-field--checkbox' }, [
      el('p', { className: 'utrecht-form-field__input' }, [input]),
      el('p', { className: 'utrecht-form-field__label' }, [el('label', { className: 'utrecht-form-label utrecht-form-label--checkbox', text: `Geen ${channelText(c)}`, attrs: { for: `uit-${c}` } })]),
    ]);
  });
  show('uitzetten', ...boxes);
}

function clearError() {
  error.hidden = true;
  error.textContent = '';
  preferred.removeAttribute('aria-invalid');
}

async function save(event) {
  event.preventDefault();
  clearError();
  const body = {
    preferred_channel: preferred.value || null,
    opted_out: [...form.querySelectorAll('input[name=uit]:checked')].map((i) => i.value),
  };
  show('opgeslagen');
  try {
    await api('/v1/me/contact-preferences', { method: 'PUT', body });
  } catch (problem) {
    if (problem.status === 409 || problem.status === 422) {
      // At the control: the preferred channel is what both refusals are about.
      error.textContent = problem.message;
      error.hidden = false;
      preferred.setAttribute('aria-invalid', 'true');
      preferred.focus();
    } else show('opgeslagen', alert('error', problem.message, { urgent: true }));
    return;
  }
  show('opgeslagen', alert('ok', 'Uw keuzes zijn opgeslagen. De gemeente gebruikt ze vanaf nu.'));
}

start(async () => {
  form.addEventListener('submit', save);
  try {
    fill(await api('/v1/me/contact-preferences'));
  } catch (problem) {
    show('opgeslagen', alert('error', problem.message, { urgent: true }));
  }
});
