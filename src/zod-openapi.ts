import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * zod, extended with `.openapi()`, for the modules whose schemas the OpenAPI document names as
 * components: zod copies methods onto a schema when it is made, so the extension must come first,
 * and importing z from here guarantees it.
 */
extendZodWithOpenApi(z);

export { z };
