import manifest from '../package.json' with { type: 'json' };

/** The code version recorded in every version's lineage. */
export const codeVersion: string = manifest.version;
