import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { listMyCertificatesRoute } from '../../lib/http/routes/list-my-certificates.ts';

export const { handler, createHandler, route } = lambdaRoute(listMyCertificatesRoute, readDeps);
