import { parentPort, workerData } from 'node:worker_threads';
import { pdfPageTextWithActualText } from './pdf-page-text.ts';

const pdf = workerData as Uint8Array;
parentPort?.postMessage(await pdfPageTextWithActualText(pdf));
