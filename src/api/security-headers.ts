import helmet from 'helmet';

/**
 * The security headers of every answer, set by one helmet instance on both serving paths (the
 * Express app and the lookup fast path in front of it). A JSON API needs the transport and
 * sniffing protections, not a page's (CSP and friends): every header costs bytes on every lookup.
 * The reference page sets its own CSP (src/api/docs.ts).
 */
export const securityHeaders = helmet({
  contentSecurityPolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
});
