// Not built yet: a placeholder so every page the panel links to loads.

import { h, mount, title } from '../dom.js';

export function list(el) {
  mount(el, title('Not available yet'), h('p', {}, 'This page is not built yet.'));
}

export function show(el) {
  mount(el, title('Not available yet'), h('p', {}, 'This page is not built yet.'));
}

export function reviews(el) {
  mount(el, title('Not available yet'), h('p', {}, 'This page is not built yet.'));
}

