import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { getCourseAnalyticsRoute } from '../../lib/http/routes/analytics.ts';

export const { handler, createHandler, route } = lambdaRoute(getCourseAnalyticsRoute, readDeps);
