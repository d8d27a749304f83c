import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { getCourseLifecycleRoute } from '../../lib/http/routes/course-lifecycle.ts';

export const { handler, createHandler, route } = lambdaRoute(getCourseLifecycleRoute, readDeps);
