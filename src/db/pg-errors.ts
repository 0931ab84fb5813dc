/** SQLSTATE codes we act on. Postgres errors are recognised by code, never by message text. */
export const PgError = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  undefinedTable: '42P01',
  undefinedObject: '42704',
  insufficientPrivilege: '42501',
  duplicateDatabase: '42P04',
  invalidCatalogName: '3D000',
  lockNotAvailable: '55P03',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  serializationFailure: '40001',
} as const;

export function hasSqlState(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
