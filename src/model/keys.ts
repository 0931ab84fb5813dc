/**
 * Keys are 1 to 256 characters of any Unicode except control characters and invisible ones: a
 * byte-order mark, zero-width spaces and joiners of words, bidirectional marks and embeddings,
 * soft hyphens, line and paragraph separators. Such a character would make two keys that look the
 * same differ (a U+FEFF pasted before a ticker), so a key holding one is refused everywhere: in an
 * import, in a lookup, and skipped when a refresh scores its source. The zero-width joiners of
 * emoji and scripts (U+200C, U+200D) and emoji tags are allowed: they are part of what is seen.
 * Nor may a key be text that was not well formed: a lone surrogate (JSON can write one), or
 * U+FFFD, which is what bytes that are not UTF-8 become when read as text.
 */
const invisibleCharacter =
  /[\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/;

/** C0 and C1 controls: no text of ours holds them (keys here, free text in src/plain-text.ts). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
export const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;

const codePoint = (character: string) =>
  `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

type KeyFault =
  | { kind: 'empty' }
  | { kind: 'long'; length: number }
  | { kind: 'control' }
  | { kind: 'invisible'; codePoint: string }
  | { kind: 'malformed' };

export const MALFORMED = 'key holds a lone surrogate or U+FFFD, what undecodable bytes become';

export function keyFault(key: string): KeyFault | undefined {
  if (key === '') return { kind: 'empty' };
  // .length counts UTF-16 units, never fewer than characters: count characters only when it must.
  const length = key.length <= 256 ? key.length : [...key].length;
  if (length > 256) return { kind: 'long', length };
  if (controlCharacter.test(key)) return { kind: 'control' };
  const invisible = invisibleCharacter.exec(key)?.[0];
  if (invisible !== undefined) return { kind: 'invisible', codePoint: codePoint(invisible) };
  if (!key.isWellFormed() || key.includes('\ufffd')) return { kind: 'malformed' };
  return undefined;
}

/** Why a key cannot be served, in an import's words, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  const fault = keyFault(key);
  switch (fault?.kind) {
    case undefined:
      return undefined;
    case 'empty':
      return 'missing key';
    case 'long':
      return `key is ${fault.length} characters long; at most 256`;
    case 'control':
      return 'key contains control characters';
    case 'invisible':
      return `key contains an invisible character (${fault.codePoint})`;
    case 'malformed':
      return MALFORMED;
  }
}

export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && keyFault(key) === undefined;
}
