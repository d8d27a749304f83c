import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { updateCourseLifecycleRoute } from '../../lib/http/routes/course-lifecycle.ts';

export const { handler, createHandler, route } = lambdaRoute(updateCourseLifecycleRoute, readDeps);
