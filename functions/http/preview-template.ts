import { lambdaRoute } from '../../lib/http/contract.ts';
import { previewDeps } from '../../lib/http/preview-deps.ts';
import { previewTemplateRoute } from '../../lib/http/routes/preview-template.ts';

export const { handler, createHandler, route } = lambdaRoute(previewTemplateRoute, previewDeps);
