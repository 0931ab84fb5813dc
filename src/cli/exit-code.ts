/** The CLI's exit codes: 3 is a success whose version the drift gate held back. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, held: 3 } as const;
