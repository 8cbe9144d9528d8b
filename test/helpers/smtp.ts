// A real SMTP server on loopback (smtp-server, from the nodemailer project) that keeps every message
// it accepts, parsed by mailparser: what a mail client would read. It offers STARTTLS (its own
// self-signed certificate) and requires the credentials it was made with. It can be stopped and
// started again on the same port, to play an SMTP server that is down for a while.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Raw header lines by lower-case name ("list-unsubscribe" → its value). */
  headers: Map<string, string>;
  messageId: string;
}

export interface TestSmtp {
  port: number;
  url: string;
  mails: ReceivedMail[];
  /** Mails to one address. */
  to(address: string): ReceivedMail[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startTestSmtp(user = 'status', pass = 'sesame'): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  const make = () =>
    new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === user && auth.password === pass) cb(null, { user });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        simpleParser(stream)
          .then((m) => {
            const headers = new Map<string, string>();
            for (const h of m.headerLines) headers.set(h.key.toLowerCase(), h.line.slice(h.line.indexOf(':') + 1).replace(/\r?\n\s+/g, ' ').trim());
            mails.push({ to: session.envelope.rcptTo.map((r) => r.address), subject: m.subject ?? '', text: m.text ?? '', html: typeof m.html === 'string' ? m.html : '', headers, messageId: m.messageId ?? '' });
            cb();
          })
          .catch((e: Error) => cb(e));
      },
    });
  let server = make();
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  await listen(0);
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://${user}:${pass}@127.0.0.1:${port}`,
    mails,
    to: (a) => mails.filter((m) => m.to.includes(a)),
    stop: () => new Promise<void>((r) => server.close(() => r())),
    async start() {
      server = make();
      await listen(port);
    },
  };
}
