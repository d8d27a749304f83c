import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { getCertificateAnalyticsRoute } from '../../lib/http/routes/analytics.ts';

export const { handler, createHandler, route } = lambdaRoute(getCertificateAnalyticsRoute, readDeps);
