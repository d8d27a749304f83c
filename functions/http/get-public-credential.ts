import { lambdaRoute } from '../../lib/http/contract.ts';
import { publicCredentialDeps } from '../../lib/http/credential-deps.ts';
import { getPublicCredentialRoute } from '../../lib/http/routes/credentials.ts';

export const { handler, createHandler, route } = lambdaRoute(getPublicCredentialRoute, publicCredentialDeps);
