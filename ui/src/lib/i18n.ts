// Interface texts. Dutch is the default and the reference; `en` must have exactly the
// same keys (the type says so and a test checks it). An unknown key shows itself, so a
// gap is visible but never breaks the screen.

import { settings, type Locale } from './settings.svelte';

export const nl = {
  'app.title': 'Voordeur',
  'app.switchLanguage': 'English',
  'app.switchLanguageLabel': 'Switch to English',
  'app.loading': 'Laden…',
  'app.skip': 'Naar de inhoud',
  'app.signedInAs': 'Aangemeld als {name}',

  'nav.label': 'Hoofdmenu',
  'nav.households': 'Huishoudens',
  'nav.followUps': 'Mijn afspraken',
  'nav.conflicts': 'Conflicten',
  'nav.back': 'Terug',
  'nav.backToHousehold': 'Terug naar het huishouden',

  'sync.label': 'Synchronisatie',
  'sync.now': 'Nu synchroniseren',
  'sync.notEnrolled': 'Niet aangemeld',
  'sync.offline': 'Offline',
  'sync.syncing': 'Synchroniseren…',
  'sync.sending.total': 'Versturen {done} van {total}',
  'sync.sending.done': 'Versturen… {done} verstuurd',
  'sync.receiving.total': 'Ophalen {done} van {total}',
  'sync.receiving.done': 'Ophalen… {done} ontvangen',
  'sync.upToDate': 'Bijgewerkt',
  'sync.upToDateAt': 'Bijgewerkt {time}',
  'sync.waiting.one': '{count} wijziging wacht',
  'sync.waiting.other': '{count} wijzigingen wachten',
  'sync.error': 'Synchroniseren mislukt',
  'sync.unknown': 'Status onbekend',
  'sync.reason.offline': 'Geen verbinding met de server.',
  'sync.reason.unauthorized': 'Dit apparaat is niet (meer) toegelaten. Vraag de beheerder om hulp.',
  'sync.reason.device_revoked': 'Dit apparaat is ingetrokken door de beheerder.',
  'sync.reason.update_required': 'Deze versie van de app is te oud. Werk de app bij.',
  'sync.reason.server': 'De server gaf een fout. Het wordt later opnieuw geprobeerd.',
  'sync.reason.timeout': 'De server reageerde niet op tijd.',
  'sync.reason.refused': 'De server weigerde een wijziging.',
  'sync.reason.other': 'Reden: {message}',

  'enrol.heading': 'Dit apparaat aanmelden',
  'enrol.intro':
    'Vul het adres van de server van je gemeente in en de eenmalige code die je van de beheerder hebt gekregen.',
  'enrol.server': 'Serveradres',
  'enrol.serverHint': 'Bijvoorbeeld https://voordeur.gemeente.nl',
  'enrol.code': 'Aanmeldcode',
  'enrol.codeHint': 'De code staat op het briefje of in de QR-code van de beheerder.',
  'enrol.submit': 'Aanmelden',
  'enrol.busy': 'Bezig met aanmelden…',
  'enrol.required': 'Vul dit veld in.',
  'enrol.welcome': 'Welkom, {name}.',

  'search.label': 'Zoeken',
  'search.placeholder': 'Adres, postcode of naam',
  'households.heading': 'Huishoudens',
  'households.count.one': '{count} huishouden',
  'households.count.other': '{count} huishoudens',
  'households.empty': 'Nog geen huishoudens op dit apparaat.',
  'households.noMatch': 'Geen huishoudens gevonden voor “{query}”.',
  'households.loading': 'Huishoudens laden…',
  'households.residents': 'Bewoners',
  'households.noResidents': 'Geen bewoners bekend',

  'household.loading': 'Huishouden laden…',
  'household.residents': 'Bewoners',
  'household.born': 'geboren {year}',
  'household.contact': 'Contact: {contact}',
  'household.neighbourhood': 'Wijk: {name}',
  'household.visits': 'Huisbezoeken',
  'household.noVisits': 'Nog geen huisbezoeken.',
  'household.signals': 'Open signalen',
  'household.noSignals': 'Geen open signalen.',
  'household.followUps': 'Open afspraken',
  'household.noFollowUps': 'Geen open afspraken.',
  'household.newVisit': 'Nieuw huisbezoek',
  'household.chooseTemplate': 'Kies een vragenlijst',
  'household.start': 'Starten',
  'household.cancel': 'Annuleren',
  'household.noTemplates': 'Er staan nog geen vragenlijsten op dit apparaat. Synchroniseer eerst.',
  'household.openVisit': 'Openen',
  'household.continueVisit': 'Verder gaan',

  'visit.loading': 'Huisbezoek laden…',
  'visit.heading': 'Huisbezoek',
  'visit.started': 'Gestart {when}',
  'visit.ended': 'Afgerond {when}',
  'visit.status.draft': 'Concept',
  'visit.status.completed': 'Afgerond',
  'visit.completedNote': 'Dit huisbezoek is afgerond en kan niet meer worden gewijzigd.',
  'visit.sections': 'Onderdelen',
  'visit.complete': 'Huisbezoek afronden',
  'visit.completing': 'Bezig met afronden…',
  'visit.missing.one': 'Nog {count} verplichte vraag open. Die is hierboven gemarkeerd.',
  'visit.missing.other': 'Nog {count} verplichte vragen open. Die zijn hierboven gemarkeerd.',
  'visit.completedNow': 'Het huisbezoek is afgerond.',
  'visit.saveFailed': 'Niet opgeslagen',

  'save.idle': 'Alles opgeslagen',
  'save.saving': 'Opslaan…',
  'save.saved': 'Opgeslagen',
  'save.error': 'Opslaan mislukt',

  'item.required': 'verplicht',
  'item.yes': 'Ja',
  'item.no': 'Nee',
  'item.clear': 'Antwoord wissen',
  'item.missing': 'Deze vraag is verplicht. Vul een antwoord in.',
  'item.notANumber': 'Vul een getal in, bijvoorbeeld 12 of 12,5.',
  'item.tooSmall': 'Het getal mag niet kleiner zijn dan {min}.',
  'item.tooLarge': 'Het getal mag niet groter zijn dan {max}.',
  'item.range': 'Van {min} tot {max}',
  'item.scaleValue': '{value} van {max}',
  'item.suggestSignal': 'Signaal melden: {category}?',
  'item.signalRaised': 'Signaal gemeld: {category}',

  'notes.heading': 'Notities',
  'notes.empty': 'Nog geen notities.',
  'notes.new': 'Nieuwe notitie',
  'notes.add': 'Notitie toevoegen',
  'notes.edit': 'Bewerken',
  'notes.editLabel': 'Notitie bewerken',
  'notes.save': 'Opslaan',
  'notes.cancel': 'Annuleren',

  'signal.heading': 'Signaal melden',
  'signal.category': 'Onderwerp',
  'signal.severity': 'Ernst',
  'signal.description': 'Toelichting (niet verplicht)',
  'signal.submit': 'Signaal melden',
  'signal.raised': 'Signaal gemeld.',

  'category.debts': 'Schulden',
  'category.benefits': 'Inkomen en toeslagen',
  'category.housing': 'Wonen',
  'category.isolation': 'Eenzaamheid',
  'category.health': 'Gezondheid',
  'category.safety': 'Veiligheid',
  'category.language': 'Taal',
  'category.education': 'Onderwijs',
  'category.other': 'Anders',
  'severity.low': 'Laag',
  'severity.medium': 'Middel',
  'severity.high': 'Hoog',
  'severity.label': 'Ernst: {severity}',

  'followUp.heading': 'Afspraak toevoegen',
  'followUp.due': 'Uiterlijk op',
  'followUp.text': 'Wat is er afgesproken?',
  'followUp.submit': 'Afspraak toevoegen',
  'followUp.added': 'Afspraak toegevoegd.',
  'followUp.dueOn': 'Uiterlijk {date}',
  'followUp.overdue': 'Te laat',
  'followUp.dueToday': 'Vandaag',

  'followUps.heading': 'Mijn afspraken',
  'followUps.empty': 'Je hebt geen open afspraken.',
  'followUps.loading': 'Afspraken laden…',
  'followUps.overdueCount.one': '{count} te laat',
  'followUps.overdueCount.other': '{count} te laat',
  'followUps.openHousehold': 'Naar het huishouden',

  'conflicts.heading': 'Conflicten',
  'conflicts.intro':
    'Op twee apparaten is hetzelfde gegeven tegelijk anders ingevuld. Kies welke waarde blijft.',
  'conflicts.empty': 'Er zijn geen conflicten.',
  'conflicts.loading': 'Conflicten laden…',
  'conflicts.field': '{entity} · {field}',
  'conflicts.by': 'Door {author} op apparaat {device}',
  'conflicts.when': 'Gewijzigd {when}',
  'conflicts.keep': 'Deze houden',
  'conflicts.current': 'Nu zichtbaar',
  'conflicts.resolved': 'Conflict opgelost.',
  'conflicts.empty_value': '(leeg)',
  'conflicts.option': 'Waarde {n}',
  'entity.household': 'Huishouden',
  'entity.resident': 'Bewoner',
  'entity.template': 'Vragenlijst',
  'entity.visit': 'Huisbezoek',
  'entity.note': 'Notitie',
  'entity.signal': 'Signaal',
  'entity.follow_up': 'Afspraak',
  'entity.review': 'Beoordeling',
  'entity.conflict': 'Conflict',

  'error.title': 'Er ging iets mis',
  'error.offline': 'Geen verbinding met de server. Controleer het adres en de internetverbinding.',
  'error.enrolment_refused': 'Deze code is onjuist, verlopen of al gebruikt. Vraag de beheerder om een nieuwe code.',
  'error.invalid_url': 'Dit is geen geldig serveradres. Begin met https://.',
  'error.update_required': 'Deze versie van de app is te oud voor de server. Werk de app bij.',
  'error.missing_required': 'Nog niet alle verplichte vragen zijn beantwoord.',
  'error.not_found': 'Dit gegeven staat niet (meer) op dit apparaat.',
  'error.not_enrolled': 'Dit apparaat is nog niet aangemeld.',
  'error.store_unavailable': 'De database op dit apparaat kon niet worden geopend.',
  'error.store_locked': 'De database op dit apparaat is vergrendeld of beschadigd.',
  'error.invalid_input': 'Deze invoer klopt niet.',
  'error.store': 'De gegevens op dit apparaat konden niet worden gelezen of opgeslagen.',
  'error.internal': 'Er is een onverwachte fout opgetreden.',
  'error.invalid_answer': 'Dit antwoord past niet bij de vraag.',
  'error.visit_completed': 'Dit huisbezoek is afgerond en kan niet meer worden gewijzigd.',
  'error.unauthorized': 'Dit apparaat is niet (meer) toegelaten. Vraag de beheerder om hulp.',
  'error.server': 'De server gaf een foutmelding. Probeer het later opnieuw.',
  'error.protocol': 'De server gaf een onverwacht antwoord. Probeer het later opnieuw.',
  'error.unknown': 'Er is een fout opgetreden.',
  'error.details': 'Technische details',
  'error.retry': 'Opnieuw proberen',
} as const;

export type MessageKey = keyof typeof nl;
export type Messages = Record<MessageKey, string>;

export const en: Messages = {
  'app.title': 'Voordeur',
  'app.switchLanguage': 'Nederlands',
  'app.switchLanguageLabel': 'Wissel naar Nederlands',
  'app.loading': 'Loading…',
  'app.skip': 'Skip to content',
  'app.signedInAs': 'Signed in as {name}',

  'nav.label': 'Main menu',
  'nav.households': 'Households',
  'nav.followUps': 'My follow-ups',
  'nav.conflicts': 'Conflicts',
  'nav.back': 'Back',
  'nav.backToHousehold': 'Back to the household',

  'sync.label': 'Synchronisation',
  'sync.now': 'Sync now',
  'sync.notEnrolled': 'Not enrolled',
  'sync.offline': 'Offline',
  'sync.syncing': 'Syncing…',
  'sync.sending.total': 'Sending {done} of {total}',
  'sync.sending.done': 'Sending… {done} sent',
  'sync.receiving.total': 'Receiving {done} of {total}',
  'sync.receiving.done': 'Receiving… {done} received',
  'sync.upToDate': 'Up to date',
  'sync.upToDateAt': 'Up to date {time}',
  'sync.waiting.one': '{count} change waiting',
  'sync.waiting.other': '{count} changes waiting',
  'sync.error': 'Sync failed',
  'sync.unknown': 'Status unknown',
  'sync.reason.offline': 'No connection to the server.',
  'sync.reason.unauthorized': 'This device is not (or no longer) allowed. Ask the administrator for help.',
  'sync.reason.device_revoked': 'This device has been revoked by the administrator.',
  'sync.reason.update_required': 'This version of the app is too old. Please update the app.',
  'sync.reason.server': 'The server returned an error. It will be tried again later.',
  'sync.reason.timeout': 'The server did not respond in time.',
  'sync.reason.refused': 'The server refused a change.',
  'sync.reason.other': 'Reason: {message}',

  'enrol.heading': 'Enrol this device',
  'enrol.intro':
    "Enter the address of your municipality's server and the one-time code you received from the administrator.",
  'enrol.server': 'Server address',
  'enrol.serverHint': 'For example https://voordeur.gemeente.nl',
  'enrol.code': 'Enrolment code',
  'enrol.codeHint': "The code is on the note or in the administrator's QR code.",
  'enrol.submit': 'Enrol',
  'enrol.busy': 'Enrolling…',
  'enrol.required': 'Please fill in this field.',
  'enrol.welcome': 'Welcome, {name}.',

  'search.label': 'Search',
  'search.placeholder': 'Address, postcode or name',
  'households.heading': 'Households',
  'households.count.one': '{count} household',
  'households.count.other': '{count} households',
  'households.empty': 'No households on this device yet.',
  'households.noMatch': 'No households found for “{query}”.',
  'households.loading': 'Loading households…',
  'households.residents': 'Residents',
  'households.noResidents': 'No residents known',

  'household.loading': 'Loading household…',
  'household.residents': 'Residents',
  'household.born': 'born {year}',
  'household.contact': 'Contact: {contact}',
  'household.neighbourhood': 'Neighbourhood: {name}',
  'household.visits': 'Home visits',
  'household.noVisits': 'No home visits yet.',
  'household.signals': 'Open signals',
  'household.noSignals': 'No open signals.',
  'household.followUps': 'Open follow-ups',
  'household.noFollowUps': 'No open follow-ups.',
  'household.newVisit': 'New home visit',
  'household.chooseTemplate': 'Choose a checklist',
  'household.start': 'Start',
  'household.cancel': 'Cancel',
  'household.noTemplates': 'There are no checklists on this device yet. Please sync first.',
  'household.openVisit': 'Open',
  'household.continueVisit': 'Continue',

  'visit.loading': 'Loading home visit…',
  'visit.heading': 'Home visit',
  'visit.started': 'Started {when}',
  'visit.ended': 'Completed {when}',
  'visit.status.draft': 'Draft',
  'visit.status.completed': 'Completed',
  'visit.completedNote': 'This home visit has been completed and can no longer be changed.',
  'visit.sections': 'Sections',
  'visit.complete': 'Complete home visit',
  'visit.completing': 'Completing…',
  'visit.missing.one': '{count} required question is still open. It is marked above.',
  'visit.missing.other': '{count} required questions are still open. They are marked above.',
  'visit.completedNow': 'The home visit has been completed.',
  'visit.saveFailed': 'Not saved',

  'save.idle': 'Everything saved',
  'save.saving': 'Saving…',
  'save.saved': 'Saved',
  'save.error': 'Saving failed',

  'item.required': 'required',
  'item.yes': 'Yes',
  'item.no': 'No',
  'item.clear': 'Clear answer',
  'item.missing': 'This question is required. Please answer it.',
  'item.notANumber': 'Enter a number, for example 12 or 12.5.',
  'item.tooSmall': 'The number must not be less than {min}.',
  'item.tooLarge': 'The number must not be more than {max}.',
  'item.range': 'From {min} to {max}',
  'item.scaleValue': '{value} of {max}',
  'item.suggestSignal': 'Raise signal: {category}?',
  'item.signalRaised': 'Signal raised: {category}',

  'notes.heading': 'Notes',
  'notes.empty': 'No notes yet.',
  'notes.new': 'New note',
  'notes.add': 'Add note',
  'notes.edit': 'Edit',
  'notes.editLabel': 'Edit note',
  'notes.save': 'Save',
  'notes.cancel': 'Cancel',

  'signal.heading': 'Raise a signal',
  'signal.category': 'Subject',
  'signal.severity': 'Severity',
  'signal.description': 'Explanation (optional)',
  'signal.submit': 'Raise signal',
  'signal.raised': 'Signal raised.',

  'category.debts': 'Debts',
  'category.benefits': 'Income and benefits',
  'category.housing': 'Housing',
  'category.isolation': 'Isolation',
  'category.health': 'Health',
  'category.safety': 'Safety',
  'category.language': 'Language',
  'category.education': 'Education',
  'category.other': 'Other',
  'severity.low': 'Low',
  'severity.medium': 'Medium',
  'severity.high': 'High',
  'severity.label': 'Severity: {severity}',

  'followUp.heading': 'Add a follow-up',
  'followUp.due': 'Due by',
  'followUp.text': 'What was agreed?',
  'followUp.submit': 'Add follow-up',
  'followUp.added': 'Follow-up added.',
  'followUp.dueOn': 'Due {date}',
  'followUp.overdue': 'Overdue',
  'followUp.dueToday': 'Today',

  'followUps.heading': 'My follow-ups',
  'followUps.empty': 'You have no open follow-ups.',
  'followUps.loading': 'Loading follow-ups…',
  'followUps.overdueCount.one': '{count} overdue',
  'followUps.overdueCount.other': '{count} overdue',
  'followUps.openHousehold': 'Go to the household',

  'conflicts.heading': 'Conflicts',
  'conflicts.intro':
    'The same information was changed differently on two devices at the same time. Choose which value stays.',
  'conflicts.empty': 'There are no conflicts.',
  'conflicts.loading': 'Loading conflicts…',
  'conflicts.field': '{entity} · {field}',
  'conflicts.by': 'By {author} on device {device}',
  'conflicts.when': 'Changed {when}',
  'conflicts.keep': 'Keep this one',
  'conflicts.current': 'Currently shown',
  'conflicts.resolved': 'Conflict resolved.',
  'conflicts.empty_value': '(empty)',
  'conflicts.option': 'Value {n}',
  'entity.household': 'Household',
  'entity.resident': 'Resident',
  'entity.template': 'Checklist',
  'entity.visit': 'Home visit',
  'entity.note': 'Note',
  'entity.signal': 'Signal',
  'entity.follow_up': 'Follow-up',
  'entity.review': 'Review',
  'entity.conflict': 'Conflict',

  'error.title': 'Something went wrong',
  'error.offline': 'No connection to the server. Check the address and the internet connection.',
  'error.enrolment_refused':
    'This code is wrong, expired or already used. Ask the administrator for a new code.',
  'error.invalid_url': 'This is not a valid server address. Start with https://.',
  'error.update_required': 'This version of the app is too old for the server. Please update the app.',
  'error.missing_required': 'Not all required questions have been answered yet.',
  'error.not_found': 'This record is not (or no longer) on this device.',
  'error.not_enrolled': 'This device has not been enrolled yet.',
  'error.store_unavailable': 'The database on this device could not be opened.',
  'error.store_locked': 'The database on this device is locked or damaged.',
  'error.invalid_input': 'This input is not valid.',
  'error.store': 'The data on this device could not be read or saved.',
  'error.internal': 'An unexpected error occurred.',
  'error.invalid_answer': 'This answer does not fit the question.',
  'error.visit_completed': 'This visit is completed and can no longer be changed.',
  'error.unauthorized': 'This device is not (or no longer) allowed. Ask the administrator for help.',
  'error.server': 'The server reported an error. Please try again later.',
  'error.protocol': 'The server gave an unexpected answer. Please try again later.',
  'error.unknown': 'An error occurred.',
  'error.details': 'Technical details',
  'error.retry': 'Try again',
};

export const catalogues: Record<Locale, Messages> = { nl, en };

export type Vars = Record<string, string | number>;

/** Is `key` a message key? For keys built from data (`error.<kind>`). */
export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(nl, key);
}

/** The text for `key` in `locale`, with `{name}` placeholders filled from `vars`. */
export function translate(locale: string, key: string, vars: Vars = {}): string {
  const catalogue: Messages = catalogues[locale as Locale] ?? nl;
  const text = isMessageKey(key) ? (catalogue[key] ?? nl[key]) : key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

/** The text for `key` in the current language. Reactive inside components. */
export function t(key: MessageKey, vars?: Vars): string {
  return translate(settings.locale, key, vars);
}

/** The form of a counted text: `<key>.one` or `<key>.other` by the language's rules. */
export function pluralKey(locale: string, key: string, count: number): string {
  const form = new Intl.PluralRules(locale).select(count) === 'one' ? 'one' : 'other';
  return `${key}.${form}`;
}

/** A counted text in the current language, `{count}` filled in (as the locale writes it). */
export function tCount(key: string, count: number, vars: Vars = {}): string {
  const locale = settings.locale;
  const shown = new Intl.NumberFormat(locale === 'en' ? 'en-GB' : 'nl-NL').format(count);
  return translate(locale, pluralKey(locale, key, count), { ...vars, count: shown });
}

/** The text for a key built from data, e.g. `error.${kind}`, with a fallback key. */
export function tDyn(key: string, fallback: MessageKey, vars?: Vars): string {
  return translate(settings.locale, isMessageKey(key) ? key : fallback, vars);
}

/** Words a worker understands for a failed command. */
export function errorText(kind: string): string {
  return tDyn(`error.${kind}`, 'error.unknown');
}
