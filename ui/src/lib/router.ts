// A tiny hash router: the screen is a function of `location.hash`, so the back button,
// a reload and a restart of the app all land on the same screen.

export type Route =
  | { name: 'households' }
  | { name: 'household'; id: string }
  | { name: 'visit'; id: string }
  | { name: 'followUps' }
  | { name: 'conflicts' };

/** Parse `#/household/<id>` and friends; anything unknown is the household list. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [first, id] = parts;
  if (first === 'household' && id) return { name: 'household', id };
  if (first === 'visit' && id) return { name: 'visit', id };
  if (first === 'follow-ups') return { name: 'followUps' };
  if (first === 'conflicts') return { name: 'conflicts' };
  return { name: 'households' };
}

/** The hash of a route, for links. */
export function href(route: Route): string {
  switch (route.name) {
    case 'household':
      return `#/household/${encodeURIComponent(route.id)}`;
    case 'visit':
      return `#/visit/${encodeURIComponent(route.id)}`;
    case 'followUps':
      return '#/follow-ups';
    case 'conflicts':
      return '#/conflicts';
    default:
      return '#/';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}
