import { PDFDocument, PDFName, PDFString } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { readPdfAttachments } from '../../lib/credentials/pdf-attachments.ts';

// `npm run verify` reads the attachments of a PDF anyone may hand it: a forger's name tree that
// lists a node in its own /Kids must not keep the check busy for hours (it is synchronous).

/** A PDF whose /EmbeddedFiles node holds `note.txt` and lists itself `selfKids` times in /Kids. */
async function pdfWithTree(selfKids: number): Promise<Uint8Array> {
  const document = await PDFDocument.create();
  document.addPage();
  const context = document.context;
  const file = context.register(context.stream(new TextEncoder().encode('hello'), { Type: 'EmbeddedFile' }));
  const spec = context.obj({ Type: 'Filespec', F: PDFString.of('note.txt'), EF: { F: file } });
  const node = context.obj({ Names: [PDFString.of('note.txt'), context.register(spec)] });
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
