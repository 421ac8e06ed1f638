// DEV ONLY: a fake shell for looking at the screens in a browser (`npx vite`, then open
// `/?mock`). Loaded from main.ts behind `import.meta.env.DEV`, so a production build
// never contains it. Query options: `enrolled=0`, `sync=<state>`, `waiting=<n>`.

import { emit } from '@tauri-apps/api/event';
import { mockIPC } from '@tauri-apps/api/mocks';
import basis from '../../../templates/huisbezoek-basis.json';

const TEMPLATE_ID = basis.id;
const H1 = '01930000-0000-7000-8000-0000000000a1';
const H2 = '01930000-0000-7000-8000-0000000000a2';
const V1 = '01930000-0000-7000-8000-0000000000b1';
const V0 = '01930000-0000-7000-8000-0000000000b0';
const USER = '01930000-0000-7000-8000-00000000c0de';
const DEV_A = '01930000-0000-7000-8000-0000a1b2c3d4';
const DEV_B = '01930000-0000-7000-8000-0000e5f6a7b8';

const hlc = (ms: number, dev: string) => `${String(ms).padStart(15, '0')}-0000000000-${dev}`;

export function installMock(params: URLSearchParams): void {
  let enrolled = params.get('enrolled') !== '0';
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const households = [
    { id: H1, address: 'Kerkstraat 12', postcode: '3511 AB', city: 'Utrecht', neighbourhood: 'Binnenstad', team_id: 't' },
    { id: H2, address: 'Lindelaan 4 bis', postcode: '3522 CD', city: 'Utrecht', neighbourhood: 'Oost', team_id: 't' },
  ];
  for (let i = 0; i < 10; i++) {
    households.push({
      id: `01930000-0000-7000-8000-0000000001${String(i).padStart(2, '0')}`,
      address: `Oudegracht ${100 + i * 7}`,
      postcode: `35${11 + i} EF`,
      city: 'Utrecht',
      neighbourhood: 'Binnenstad',
      team_id: 't',
    });
  }
  const residents: Record<string, { id: string; household_id: string; name: string; birth_year: number | null; contact: string | null }[]> = {
    [H1]: [
      { id: 'r1', household_id: H1, name: 'Anna de Vries', birth_year: 1948, contact: '06 12345678' },
      { id: 'r2', household_id: H1, name: 'Bram de Vries', birth_year: 1946, contact: null },
    ],
    [H2]: [{ id: 'r3', household_id: H2, name: 'Fatima El Amrani', birth_year: 1985, contact: null }],
  };
  const visits = [
    { id: V1, household_id: H1, template_id: TEMPLATE_ID, template_version: 1, author_id: USER, started_at: new Date(Date.now() - 3600_000).toISOString(), ended_at: null, status: 'draft' },
    { id: V0, household_id: H1, template_id: TEMPLATE_ID, template_version: 1, author_id: USER, started_at: '2026-09-14T10:00:00Z', ended_at: '2026-09-14T11:00:00Z', status: 'completed' },
  ];
  const answers: Record<string, Record<string, unknown>> = {
    [V1]: { 'geld.post_ongeopend': true, 'geld.achterstanden': true, 'geld.schuldbedrag': 2500, 'wonen.staat_woning': 2, 'geld.toeslagen': ['huurtoeslag', 'geen'] },
    [V0]: { 'geld.post_ongeopend': false },
  };
  const notes: Record<string, { id: string; visit_id: string; author_id: string; text: string; created_at: string }[]> = {
    [V1]: [{ id: 'n1', visit_id: V1, author_id: USER, text: 'Mevrouw was erg open. Dochter komt wekelijks langs.', created_at: new Date().toISOString() }],
  };
  const signals = [
    { id: 's1', household_id: H1, visit_id: V1, category: 'debts', severity: 'medium', status: 'open', description: 'Stapel ongeopende post' },
  ];
  const followUps = [
    { id: 'f1', household_id: H1, visit_id: V1, assignee_id: USER, due: day(-3), text: 'Bellen met de woningcorporatie over de huurachterstand', status: 'open', overdue: true },
    { id: 'f2', household_id: H2, visit_id: null, assignee_id: USER, due: day(0), text: 'Aanvraag bijzondere bijstand nalopen', status: 'open', overdue: false },
    { id: 'f3', household_id: H1, visit_id: null, assignee_id: USER, due: day(9), text: 'Tweede huisbezoek plannen', status: 'open', overdue: false },
  ];
  const conflicts = [
    {
      id: 'c1', entity: 'visit', record_id: V1, field: 'answer:geld.schuldbedrag', status: 'open',
      values: [
        { value: 2500, hlc: hlc(Date.now() - 7200_000, DEV_A), device: DEV_A, author: USER, change_id: 'x1' },
        { value: 4000, hlc: hlc(Date.now() - 3000_000, DEV_B), device: DEV_B, author: '01930000-0000-7000-8000-00000000beef', change_id: 'x2' },
      ],
    },
  ];
  const waiting = Number(params.get('waiting') ?? 2);
  const syncKind = params.get('sync') ?? 'waiting';
  const sync = {
    state: syncKind,
    waiting,
    progress: syncKind === 'syncing' ? { phase: 'push', done: 2, total: 5 } : null,
    last_sync: new Date(Date.now() - 600_000).toISOString(),
    error: syncKind === 'error' ? { code: 'offline', message: 'connection refused' } : null,
  };
  const user = { id: USER, name: 'Sanne Jansen', role: 'worker', team_id: 't', team_name: 'Wijkteam Binnenstad' };

  mockIPC(
    async (cmd, raw) => {
      const args = (raw ?? {}) as Record<string, any>;
      switch (cmd) {
        case 'app_status':
          return enrolled
            ? { enrolled, user, server_url: 'https://voordeur.example', sync, pin_set: false, locked: false, lock_after_secs: 300 }
            : { enrolled: false, sync: { state: 'not_enrolled', waiting: 0 }, pin_set: false, locked: false, lock_after_secs: 300 };
        case 'enrol':
          if (args.code === 'fout') throw { kind: 'enrolment_refused', message: 'code rejected' };
          if (!String(args.serverUrl).startsWith('http')) throw { kind: 'invalid_url', message: 'bad url' };
          if (args.code === 'offline') throw { kind: 'offline', message: 'connection refused' };
          enrolled = true;
          return user;
        case 'count_households': {
          const q = String(args.query ?? '').toLowerCase();
          return households.filter((h) => !q || `${h.address} ${h.postcode} ${(residents[h.id] ?? []).map((r) => r.name).join(' ')}`.toLowerCase().includes(q)).length;
        }
        case 'list_households': {
          const q = String(args.query ?? '').toLowerCase();
          return households
            .map((h) => ({ ...h, residents: (residents[h.id] ?? []).map((r) => r.name) }))
            .filter((h) => !q || `${h.address} ${h.postcode} ${h.residents.join(' ')}`.toLowerCase().includes(q));
        }
        case 'household_detail':
          return {
            household: households.find((h) => h.id === args.id),
            residents: residents[args.id] ?? [],
            visits: visits.filter((v) => v.household_id === args.id),
            open_signals: signals.filter((s) => s.household_id === args.id),
            open_follow_ups: followUps.filter((f) => f.household_id === args.id),
          };
        case 'list_templates':
          return [{ id: TEMPLATE_ID, version: 1, name: basis.name }];
        case 'start_visit': {
          const id = `01930000-0000-7000-8000-${String(Date.now()).slice(-12)}`;
          visits.push({ id, household_id: args.householdId, template_id: TEMPLATE_ID, template_version: 1, author_id: USER, started_at: new Date().toISOString(), ended_at: null, status: 'draft' });
          answers[id] = {};
          return id;
        }
        case 'open_visit': {
          const visit = visits.find((v) => v.id === args.visitId)!;
          return {
            detail: {
              visit,
              answers: Object.entries(answers[visit.id] ?? {}).map(([item, value]) => ({ item, value, version: hlc(Date.now(), DEV_A) })),
              notes: notes[visit.id] ?? [],
            },
            template: basis,
            household: households.find((h) => h.id === visit.household_id),
          };
        }
        case 'answer': {
          await new Promise((r) => setTimeout(r, 150));
          const a = (answers[args.visitId] ??= {});
          if (args.value === null) delete a[args.item];
          else a[args.item] = args.value;
          return args.value;
        }
        case 'add_note': {
          const id = `n${Date.now()}`;
          (notes[args.visitId] ??= []).push({ id, visit_id: args.visitId, author_id: USER, text: args.text, created_at: new Date().toISOString() });
          return id;
        }
        case 'edit_note':
          for (const list of Object.values(notes)) for (const n of list) if (n.id === args.noteId) n.text = args.text;
          return null;
        case 'raise_signal':
          signals.push({ id: `s${Date.now()}`, household_id: args.householdId, visit_id: args.visitId, category: args.category, severity: args.severity, status: 'open', description: args.description });
          return 'ok';
        case 'add_follow_up':
          followUps.push({ id: `f${Date.now()}`, household_id: args.householdId, visit_id: args.visitId, assignee_id: USER, due: args.due, text: args.text, status: 'open', overdue: false });
          return 'ok';
        case 'complete_visit': {
          const visit = visits.find((v) => v.id === args.visitId)!;
          visit.status = 'completed';
          visit.ended_at = new Date().toISOString();
          return null;
        }
        case 'my_follow_ups':
          return followUps;
        case 'list_conflicts':
          return conflicts;
        case 'resolve_conflict': {
          const c = conflicts.find((x) => x.id === args.id);
          if (c) c.status = 'resolved';
          return null;
        }
        case 'sync_now':
          void (async () => {
            for (let done = 0; done <= 5; done++) {
              await emit('sync-status', { ...sync, state: 'syncing', progress: { phase: 'push', done, total: 5 } });
              await new Promise((r) => setTimeout(r, 300));
            }
            await emit('sync-status', { state: 'up_to_date', waiting: 0, last_sync: new Date().toISOString() });
            await emit('data-changed', { pulled: 0 });
          })();
          return null;
        default:
          throw { kind: 'internal', message: `mock: unknown command ${cmd}` };
      }
    },
    { shouldMockEvents: true },
  );
}
