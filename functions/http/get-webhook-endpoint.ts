import { lambdaRoute } from '../../lib/http/contract.ts';
import { getWebhookEndpointRoute } from '../../lib/http/routes/webhooks.ts';
import { webhookDeps } from '../../lib/http/webhook-deps.ts';

export const { handler, createHandler, route } = lambdaRoute(getWebhookEndpointRoute, webhookDeps);
