import { backfillDeps } from '../../lib/http/backfill-deps.ts';
import { lambdaRoute } from '../../lib/http/contract.ts';
import { backfillCourseRoute } from '../../lib/http/routes/backfill-course.ts';

export const { handler, createHandler, route } = lambdaRoute(backfillCourseRoute, backfillDeps);
