import { mount } from 'svelte';
import App from './App.svelte';
import { settings } from './lib/settings.svelte';
import { mark, prefetchRoute } from './lib/prefetch';
import { parseRoute } from './lib/router';
import './app.css';

mark('start');

document.documentElement.lang = settings.locale;

// Development only: `/?mock` runs the screens against a fake shell in a plain browser.
// `import.meta.env.DEV` is false in a build, so the mock is not part of the app.
if (import.meta.env.DEV && new URLSearchParams(location.search).has('mock')) {
  const { installMock } = await import('./dev/mock');
  installMock(new URLSearchParams(location.search));
}

// The first screen's data is asked for now, alongside the app status, not after it.
prefetchRoute(parseRoute(location.hash));

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
