import { lambdaRoute } from '../../lib/http/contract.ts';
import { certificateCredentialDeps } from '../../lib/http/credential-deps.ts';
import { getCertificateCredentialRoute } from '../../lib/http/routes/credentials.ts';

export const { handler, createHandler, route } = lambdaRoute(
  getCertificateCredentialRoute,
  certificateCredentialDeps,
);
