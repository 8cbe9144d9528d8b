import type { FastifyInstance } from 'fastify';

// Headers every HTML page carries (the console and the status page render here): no framing, no
// sniffing, scripts from this origin only, no referrer leaking ids to other sites.
// Inline styles are allowed (the status page inlines its CSS); inline scripts are not. Every other
// answer of the control plane gets `nosniff` too. Pages that need more (an inline
// script's hash) set their own Content-Security-Policy; this one is then left alone.
export const HTML_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_req, reply, payload, done) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      for (const [name, value] of Object.entries(HTML_SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    } else {
      reply.header('x-content-type-options', 'nosniff');
    }
    done(null, payload);
  });
}
