// Dutch labels for the ids the API returns. Display only: the router's routing file is
// the truth about teams; an id missing here is shown as it is.

export const TEAMS = {
  kcc: 'Klantcontactcentrum',
  burgerzaken: 'Burgerzaken',
  evenementen: 'Evenementen',
  handhaving: 'Handhaving',
  veiligheid: 'Openbare orde en veiligheid',
  'werk-en-inkomen': 'Werk en Inkomen',
  zorg: 'Wmo en zorg',
  jeugd: 'Jeugd',
  schuldhulp: 'Schuldhulpverlening',
  parkeren: 'Parkeren',
  afval: 'Afval en reiniging',
  vergunningen: 'Vergunningen (omgeving)',
  belastingen: 'Belastingen',
  'openbare-ruimte': 'Beheer openbare ruimte',
  onderwijs: 'Onderwijs en leerplicht',
};

export const ROLES = {
  kcc: 'Klantcontactcentrum (KCC)',
  member: 'Teamlid',
  lead: 'Teamleider',
  integration: 'Koppeling (front-office)',
  auditor: 'Auditor',
};

export const CHANNELS = {
  web: 'Web',
  email: 'E-mail',
  app: 'App',
  chat: 'Chat',
  phone: 'Telefoon',
  counter: 'Balie',
  letter: 'Post',
};

export const IDENTIFIERS = {
  bsn: 'BSN',
  kvk: 'KvK-nummer',
  email: 'E-mailadres',
  phone: 'Telefoonnummer',
  chat: 'Chataccount',
  postal_address: 'Postadres',
};

export const TRUST = {
  authenticated: 'Geauthenticeerd',
  verified: 'Geverifieerd',
  claimed: 'Opgegeven',
};

// Which evidence gave an identifier its rung (null: only stated by the sender).
export const EVIDENCE = {
  digid: 'DigiD-inlog',
  eherkenning: 'eHerkenning-inlog',
  'id-document': 'legitimatie gecontroleerd aan de balie',
  dmarc: 'afzender bevestigd door de mailgateway (DMARC)',
  dkim: 'afzender bevestigd met DKIM-handtekening',
  'network-caller-id': 'nummer bevestigd door het telefoonnetwerk',
  'crm-import': 'geverifieerd in het vorige CRM',
  'staff-confirmed': 'bevestigd door een medewerker',
};

export function evidenceText(evidence) {
  return evidence ? (EVIDENCE[evidence] || evidence) : 'alleen opgegeven door de afzender';
}

export const SEARCH_KINDS = {
  bsn: 'BSN',
  kvk: 'KvK-nummer',
  email: 'E-mailadres',
  phone: 'Telefoonnummer',
  case_number: 'Zaaknummer',
  postcode: 'Postcode en huisnummer',
  name: 'Naam',
};

export const STATUSES = {
  open: 'Open',
  'in behandeling': 'In behandeling',
  'wacht op inwoner': 'Wacht op inwoner',
  afgehandeld: 'Afgehandeld',
};

export const CASE_RULES = {
  'case-number': 'Het bericht noemt het zaaknummer van deze zaak',
  thread: 'Het bericht is een reactie in een gesprek van deze zaak',
  'open-case-recent': 'Dezelfde afzender heeft kort geleden over deze open zaak geschreven',
  'open-case-same-product': 'Er loopt al een open zaak over hetzelfde product',
  'open-case-candidate':
    'Het product is niet zeker, maar er loopt een open zaak over een van de mogelijke producten',
  'new-case': 'Geen passende zaak gevonden: er is een nieuwe zaak geopend',
};

export const OWNER_RULES = {
  product: 'Het product bepaalt het team (routeringsbestand)',
  'default-owner': 'Geen product herkend: het klantcontactcentrum is eigenaar',
  'existing-owner': 'De zaak houdt haar eigenaar',
  'imported-owner': 'Het team uit het oude klantsysteem houdt de zaak',
};

export const FLAGS = {
  'case-number-of-other-party': 'Genoemd zaaknummer hoort bij een andere partij',
  'thread-of-other-party': 'Reactie in een gesprek van een andere partij',
  'possible-duplicate-party': 'Mogelijk dubbele registratie',
};

export function team(id) {
  return (id && TEAMS[id]) || id || 'onbekend team';
}

export function channel(id) {
  return (id && CHANNELS[id]) || id || '';
}

export function status(id) {
  return (id && STATUSES[id]) || id || 'onbekend';
}

export function ownerRule(rule) {
  const [kind, detail] = String(rule || '').split(':', 2);
  const text = OWNER_RULES[kind] || rule || 'onbekend';
  return detail ? `${text}: ${detail}` : text;
}
