import { PDFDocument, PDFName, PDFString } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { readPdfAttachments } from '../../lib/credentials/pdf-attachments.ts';

// `npm run verify` reads the attachments of a PDF anyone may hand it: a forger's name tree that
// lists a node in its own /Kids must not keep the check busy for hours (it is synchronous).

/**
 * A PDF whose /EmbeddedFiles node holds `files` (name, text), in that order, and lists itself
 * `selfKids` times in /Kids.
 */
async function pdfWithTree(
  selfKids: number,
  files: [name: string, text: string][] = [['note.txt', 'hello']],
): Promise<Uint8Array> {
  const document = await PDFDocument.create();
  document.addPage();
  const context = document.context;
  const names = files.flatMap(([name, text]) => {
    const file = context.register(context.stream(new TextEncoder().encode(text), { Type: 'EmbeddedFile' }));
    const spec = context.obj({ Type: 'Filespec', F: PDFString.of(name), EF: { F: file } });
    return [PDFString.of(name), context.register(spec)];
  });
  const node = context.obj({ Names: names });
  const ref = context.register(node);
  if (selfKids > 0) node.set(PDFName.of('Kids'), context.obj(Array.from({ length: selfKids }, () => ref)));
  document.catalog.set(PDFName.of('Names'), context.obj({ EmbeddedFiles: ref }));
  return await document.save({ useObjectStreams: false });
}

describe('readPdfAttachments', () => {
  it('reads an attachment of the name tree', async () => {
    const files = await readPdfAttachments(await pdfWithTree(0));
    expect(new TextDecoder().decode(files.get('note.txt'))).toBe('hello');
  });

  it('reads each node of the tree once: a node listed in its own /Kids four times is read, not walked for hours', async () => {
    const files = await readPdfAttachments(await pdfWithTree(4));
    expect([...files.keys()]).toEqual(['note.txt']);
    expect(new TextDecoder().decode(files.get('note.txt'))).toBe('hello');
  });

  it('reads a name listed twice once, the first of them', async () => {
    // Otherwise a forger's PDF repeating certificate.jwt would have every copy inflated (up to
    // 1 MiB apiece), and whatever copy was appended last would be read instead of the issuer's.
    const files = await readPdfAttachments(
      await pdfWithTree(0, [
        ['certificate.jwt', 'first'],
        ['certificate.jwt', 'second'],
      ]),
    );
    expect([...files.keys()]).toEqual(['certificate.jwt']);
    expect(new TextDecoder().decode(files.get('certificate.jwt'))).toBe('first');
  });

  it('refuses a tree of more than 1000 nodes', async () => {
    const document = await PDFDocument.create();
    document.addPage();
    const context = document.context;
    const kids = Array.from({ length: 1001 }, () => context.register(context.obj({ Names: [] })));
    const root = context.register(context.obj({ Kids: kids }));
    document.catalog.set(PDFName.of('Names'), context.obj({ EmbeddedFiles: root }));
    const pdf = await document.save({ useObjectStreams: false });
    await expect(readPdfAttachments(pdf)).rejects.toThrow(/embedded-files tree has more than 1000 nodes/);
  });
});
