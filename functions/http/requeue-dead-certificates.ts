import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { requeueDeadCertificatesRoute } from '../../lib/http/routes/requeue-dead-certificates.ts';

export const { handler, createHandler, route } = lambdaRoute(requeueDeadCertificatesRoute, readDeps);
