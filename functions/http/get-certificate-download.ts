import { lambdaRoute } from '../../lib/http/contract.ts';
import { downloadDeps } from '../../lib/http/download-deps.ts';
import { getCertificateDownloadRoute } from '../../lib/http/routes/get-certificate-download.ts';

export const { handler, createHandler, route } = lambdaRoute(getCertificateDownloadRoute, downloadDeps);
