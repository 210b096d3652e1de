// Not built yet: a placeholder so every page the panel links to loads.

import { h, mount, title } from '../dom.js';

export function render(el) {
  mount(el, title('Not available yet'), h('p', {}, 'This page is not built yet.'));
}

