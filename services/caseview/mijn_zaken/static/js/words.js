// Words a resident understands (B1): statuses, channels, delivery, who looked.

const STATUS = {
  open: 'Ontvangen',
  'in behandeling': 'In behandeling',
  'wacht op inwoner': 'Wij wachten op u',
  afgehandeld: 'Afgerond',
};
const CHANNEL = {
  web: 'website',
  email: 'e-mail',
  app: 'app',
  chat: 'chat',
  phone: 'telefoon',
  counter: 'balie',
  letter: 'brief',
  sms: 'sms',
};
const DELIVERY = {
  requested: 'Wordt verstuurd',
  sent: 'Verstuurd',
  delivered: 'Bij u aangekomen',
  bounced: 'Niet aangekomen',
  failed: 'Versturen is niet gelukt',
  'handed-to-print': 'Met de post verstuurd',
};
const WHAT = {
  zaak: 'uw zaak',
  geschiedenis: 'de berichten van uw zaak',
  bijlage: 'een document',
  zoekresultaat: 'uw naam in een zoekopdracht',
  gegevens: 'uw gegevens',
  verwerkingenlog: 'deze lijst',
};

export const statusText = (s) => STATUS[s] || s || 'Onbekend';
export const channelText = (c) => CHANNEL[c] || c;
export const deliveryText = (d) => DELIVERY[d] || d;
export const whatText = (w) => WHAT[w] || w;
export const CHANNELS = ['email', 'sms', 'app', 'chat', 'letter'];

const DAY = new Intl.DateTimeFormat('nl-NL', { dateStyle: 'long', timeZone: 'Europe/Amsterdam' });
const MOMENT = new Intl.DateTimeFormat('nl-NL', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'Europe/Amsterdam',
});

// A <time> element with the date (or date and time) in Dutch.
export function timeEl(value, withTime = true) {
  const el = document.createElement('time');
  if (!value) {
    el.textContent = '–';
    return el;
  }
  el.dateTime = value;
  el.textContent = (withTime ? MOMENT : DAY).format(new Date(value));
  return el;
}

export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace('.', ',')} MB`;
}
