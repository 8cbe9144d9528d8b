import busboy from 'busboy';

/**
 * Text fields of a buffered multipart/form-data body (files are skipped: the body is forwarded
 * upstream as it came). Routing and billing need model, prompt, n, size and quality.
 */
export function parseMultipartFields(raw: Buffer, contentType: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize: 1024 * 1024 } });
    } catch (e) {
      reject(e);
      return;
    }
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    // A truncated body errors the file stream too; unheard, that 'error' would end the process.
    bb.on('file', (_name, stream) => {
      stream.on('error', reject);
      stream.resume();
    });
    bb.on('error', reject);
    bb.on('close', () => resolve(fields));
    bb.end(raw);
  });
}
