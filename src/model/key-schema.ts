import { z } from 'zod';
import { keyFault, MALFORMED } from './keys.ts';

/** A key in a request (a path, a batch body). */
export const keySchema = z.string().superRefine((key, ctx) => {
  const fault = keyFault(key);
  if (fault === undefined) return;
  ctx.addIssue({
    code: 'custom',
    message:
      fault.kind === 'control'
        ? 'must not contain control characters'
        : fault.kind === 'invisible'
          ? `must not contain an invisible character (${fault.codePoint})`
          : fault.kind === 'malformed'
            ? `must be well-formed UTF-8 text (${MALFORMED})`
            : 'must be 1 to 256 characters',
  });
});
