// What every page after login does: require a session, wire the logout button.

import { logout, requireLogin } from './session.js';

export async function start(load) {
  if (!(await requireLogin())) return;
  document.getElementById('afmelden').addEventListener('click', () => logout());
  await load();
}
