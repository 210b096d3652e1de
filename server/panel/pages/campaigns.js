// Coordinators: campaigns.

import { get } from '../api.js';
import { h, mount, title, table, badge, when } from '../dom.js';

/** `#/campaigns`: every campaign, newest first. */
export async function list(el) {
  const campaigns = await get('/api/campaigns');
  mount(el,
    title('Campaigns'),
    table('Campaigns', [
      ['Name', (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name)],
      ['Status', (c) => badge(c.status)],
      ['Period', (c) => `${when(c.starts_at)} – ${when(c.ends_at)}`],
    ], campaigns, { empty: 'No campaigns yet.' }));
}
