import type { RouteContract } from '../contract.ts';
import { getCertificateAnalyticsRoute, getCourseAnalyticsRoute } from './analytics.ts';
import { backfillCourseRoute } from './backfill-course.ts';
import { getCourseLifecycleRoute, updateCourseLifecycleRoute } from './course-lifecycle.ts';
import { createAttemptRoute } from './create-attempt.ts';
import {
  getCertificateCredentialRoute,
  getPublicCredentialRoute,
  getStatusListRoute,
} from './credentials.ts';
import { getCertificateRoute } from './get-certificate.ts';
import { getCertificateDownloadRoute } from './get-certificate-download.ts';
import { getLatestStudentCertificateRoute } from './get-latest-student-certificate.ts';
import { healthRoute } from './health.ts';
import { issuerKeyRoute, jwksRoute } from './jwks.ts';
import { listCourseCertificatesRoute } from './list-course-certificates.ts';
import { listLaterPassesRoute } from './list-later-passes.ts';
import { listMyCertificatesRoute } from './list-my-certificates.ts';
import { listStudentCertificatesRoute } from './list-student-certificates.ts';
import { previewTemplateRoute } from './preview-template.ts';
import { reissueCertificateRoute } from './reissue-certificate.ts';
import { requeueCertificateRoute } from './requeue-certificate.ts';
import { requeueDeadCertificatesRoute } from './requeue-dead-certificates.ts';
import { revokeCertificateRoute } from './revoke-certificate.ts';
import { verifyCertificateRoute } from './verify-certificate.ts';
import {
  createWebhookEndpointRoute,
  disableWebhookEndpointRoute,
  enableWebhookEndpointRoute,
  getWebhookEndpointRoute,
  listWebhookDeliveriesRoute,
  listWebhookEndpointsRoute,
  redeliverWebhookRoute,
  rotateWebhookSecretRoute,
} from './webhooks.ts';

/**
 * Every route of the API but the OpenAPI document's own (routes/openapi.ts adds it, so this
 * list has no cycle). The document is generated from this list and a test checks that
 * serverless.yml routes exactly these methods and paths, each to the handler that binds it.
 */
export const ROUTES: readonly RouteContract[] = [
  healthRoute,
  listMyCertificatesRoute,
  listStudentCertificatesRoute,
  getLatestStudentCertificateRoute,
  getCertificateRoute,
  getCertificateDownloadRoute,
  getCertificateCredentialRoute,
  requeueCertificateRoute,
  requeueDeadCertificatesRoute,
  revokeCertificateRoute,
  reissueCertificateRoute,
  listCourseCertificatesRoute,
  listLaterPassesRoute,
  getCourseLifecycleRoute,
  updateCourseLifecycleRoute,
  backfillCourseRoute,
  getCourseAnalyticsRoute,
  getCertificateAnalyticsRoute,
  createAttemptRoute,
  previewTemplateRoute,
  verifyCertificateRoute,
  getPublicCredentialRoute,
  getStatusListRoute,
  jwksRoute,
  issuerKeyRoute,
  createWebhookEndpointRoute,
  listWebhookEndpointsRoute,
  getWebhookEndpointRoute,
  disableWebhookEndpointRoute,
  enableWebhookEndpointRoute,
  rotateWebhookSecretRoute,
  listWebhookDeliveriesRoute,
  redeliverWebhookRoute,
];
